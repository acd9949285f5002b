// Command refcheck is the reference checker for the benchmark: it opens a
// bbolt file read-only with Debian's bbolt 1.3.6 and runs tx.Check, printing
// each error and "OK" or "N errors". Exit 0 when clean, 1 otherwise.
package main

import (
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: refcheck DB")
		os.Exit(2)
	}
	start := time.Now()
	// Read-only: opened read-write, bbolt would write a freelist into an
	// etcd (NoFreelistSync) file.
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	opened := time.Since(start)
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			fmt.Println(e)
			n++
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	total := time.Since(start)
	// A read-only Open does not load the freelist; Check does, and on the
	// NoFreelistSync files etcd writes that is a walk of every reachable page
	// (freepages), so it is counted in "check".
	fmt.Fprintf(os.Stderr, "time: open %.3fs, check %.3fs, total %.3fs\n",
		opened.Seconds(), (total - opened).Seconds(), total.Seconds())
	if n > 0 {
		fmt.Printf("%d errors\n", n)
		os.Exit(1)
	}
	fmt.Println("OK")
}
