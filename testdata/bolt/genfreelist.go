// Command genfreelist writes a small bbolt file with a persisted freelist,
// nested and inline buckets, overflow values and freed pages: the features
// etcd's own dbs (NoFreelistSync, top-level buckets only) never show.
// Build it in GOPATH mode against Debian's bbolt 1.3.6 (see generate.sh).
package main

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	out := os.Args[1]
	os.Remove(out)
	db, err := bolt.Open(out, 0600, &bolt.Options{PageSize: 4096})
	must(err)
	must(db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucket([]byte("outer"))
		if err != nil {
			return err
		}
		for i := 0; i < 600; i++ {
			if err := top.Put([]byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprintf("value-%d", i*7))); err != nil {
				return err
			}
		}
		nested, err := top.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		big := make([]byte, 9000)
		for i := range big {
			big[i] = byte('a' + i%26)
		}
		if err := nested.Put([]byte("big"), big); err != nil {
			return err
		}
		small, err := tx.CreateBucket([]byte("small"))
		if err != nil {
			return err
		}
		return small.Put([]byte("a"), []byte("1"))
	}))
	// Later transactions free pages (copy-on-write) so the freelist is non-empty.
	must(db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("outer"))
		for i := 0; i < 600; i += 3 {
			if err := b.Delete([]byte(fmt.Sprintf("k%05d", i))); err != nil {
				return err
			}
		}
		return nil
	}))
	must(db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("small")).Put([]byte("b"), []byte("2"))
	}))
	must(db.Close())
}
