// Command gendb writes an etcd-shaped bbolt db for benchmarks: etcd's ten
// top-level buckets, a `key` bucket of revision keys holding mvccpb.KeyValue
// protobufs (Kubernetes-like key names, several revisions per key, some
// deletes as tombstones, ~1% of values larger than a page), and consistent
// meta, lease, member and cluster records. Written as etcd writes: no
// persisted freelist, fill percent 0.9 for the sequential key bucket.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

func varint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func field(b []byte, num int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return varint(varint(b, uint64(num<<3)), v)
}

func bytesField(b []byte, num int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = varint(b, uint64(num<<3|2))
	b = varint(b, uint64(len(v)))
	return append(b, v...)
}

func revKey(main, sub int64, tomb bool) []byte {
	k := make([]byte, 17, 18)
	binary.BigEndian.PutUint64(k[0:8], uint64(main))
	k[8] = '_'
	binary.BigEndian.PutUint64(k[9:17], uint64(sub))
	if tomb {
		k = append(k, 't')
	}
	return k
}

type keyState struct {
	create, version int64
	live            bool
}

func main() {
	out := flag.String("out", "etcd-bench.db", "output file")
	keys := flag.Int("keys", 1000000, "distinct key names")
	revs := flag.Int("revisions", 4000000, "total revisions")
	vsize := flag.Int("value-size", 1000, "mean value size")
	seed := flag.Int64("seed", 1, "random seed")
	batch := flag.Int("batch", 100000, "puts per transaction")
	k8sValues := flag.String("k8s-values", "", "folder of Kubernetes test-data .pb files: store each key's kind as its value (read at run time, never copied)")
	flag.Parse()

	os.Remove(*out)
	db, err := bolt.Open(*out, 0600, &bolt.Options{NoFreelistSync: true, NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		panic(err)
	}
	names := []string{"alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta"}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucket([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewSource(*seed))
	state := make([]keyState, *keys)
	// Kubernetes-like key names: mostly pods, then the other busy kinds.
	kinds := []struct{ prefix, obj, pb string }{
		{"/registry/pods", "pod", "core.v1.Pod"}, {"/registry/pods", "pod", "core.v1.Pod"}, {"/registry/pods", "pod", "core.v1.Pod"},
		{"/registry/events", "event", "core.v1.Event"}, {"/registry/configmaps", "cm", "core.v1.ConfigMap"}, {"/registry/secrets", "secret", "core.v1.Secret"},
		{"/registry/services/endpoints", "svc", "core.v1.Endpoints"}, {"/registry/replicasets", "rs", "apps.v1.ReplicaSet"},
		{"/registry/leases/kube-node-lease", "node", "coordination.k8s.io.v1.Lease"}, {"/registry/serviceaccounts", "sa", "core.v1.ServiceAccount"},
	}
	k8s := map[string][]byte{}
	if *k8sValues != "" {
		for _, k := range kinds {
			b, err := os.ReadFile(*k8sValues + "/" + k.pb + ".pb")
			if err != nil {
				panic(err)
			}
			k8s[k.pb] = b
		}
	}
	name := func(i int) []byte {
		k := kinds[i%len(kinds)]
		if k.obj == "node" {
			return []byte(fmt.Sprintf("%s/%s-%07d", k.prefix, k.obj, i))
		}
		return []byte(fmt.Sprintf("%s/ns-%04d/%s-%08d", k.prefix, (i/len(kinds))%1000, k.obj, i))
	}
	payload := make([]byte, 64*1024)
	for i := range payload {
		payload[i] = byte('a' + rng.Intn(26))
	}
	start := time.Now()
	rev := int64(1) // etcd's first write is revision 2
	written, tombs, large := 0, 0, 0
	leaseIDs := []int64{0x694d77e8c1e00001, 0x694d77e8c1e00002, 0x694d77e8c1e00003}
	for written < *revs {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("key"))
			b.FillPercent = 0.9
			var buf []byte
			var sub int64
			ops := 0 // changes left in the current revision
			var inRev []int
			for n := 0; n < *batch && written < *revs; n++ {
				if ops == 0 {
					// Most revisions hold one change; ~1% are txns or lease
					// revocations with 2-4 changes (sub revisions 0, 1, ...).
					rev, sub, ops, inRev = rev+1, 0, 1, inRev[:0]
					if *keys >= 16 && rng.Intn(100) == 0 {
						ops = 2 + rng.Intn(3)
					}
				} else {
					sub++
				}
				ops--
				// The first pass creates every key; later ones update or delete.
				// A key changes at most once per revision.
				i := written
				if written >= *keys {
				pick:
					i = rng.Intn(*keys)
					for _, j := range inRev {
						if j == i {
							goto pick
						}
					}
				}
				inRev = append(inRev, i)
				st := &state[i]
				tomb := st.live && rng.Intn(50) == 0
				buf = buf[:0]
				if tomb {
					tombs++
					buf = bytesField(buf, 1, name(i))
					st.live = false
				} else {
					if !st.live {
						st.create, st.version, st.live = rev, 0, true
					}
					st.version++
					size := *vsize/2 + rng.Intn(*vsize)
					if rng.Intn(100) == 0 {
						size = 4096 + rng.Intn(3*4096)
						large++
					}
					off := rng.Intn(len(payload) - size)
					value := payload[off : off+size]
					if v, ok := k8s[kinds[i%len(kinds)].pb]; ok {
						value = v
					}
					buf = bytesField(buf, 1, name(i))
					buf = field(buf, 2, uint64(st.create))
					buf = field(buf, 3, uint64(rev))
					buf = field(buf, 4, uint64(st.version))
					buf = bytesField(buf, 5, value)
					if i%10 == 0 {
						buf = field(buf, 6, uint64(leaseIDs[i%3]))
					}
				}
				if err := b.Put(revKey(rev, sub, tomb), append([]byte(nil), buf...)); err != nil {
					return err
				}
				written++
			}
			return nil
		})
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(os.Stderr, "\r%d/%d revisions", written, *revs)
	}
	fmt.Fprintln(os.Stderr)
	err = db.Update(func(tx *bolt.Tx) error {
		be := func(v uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, v); return b }
		m := tx.Bucket([]byte("meta"))
		m.Put([]byte("consistent_index"), be(uint64(rev)+100))
		m.Put([]byte("scheduledCompactRev"), revKey(1, 0, false))
		m.Put([]byte("finishedCompactRev"), revKey(1, 0, false))
		l := tx.Bucket([]byte("lease"))
		for _, id := range leaseIDs {
			var rec []byte
			rec = field(rec, 1, uint64(id))
			rec = field(rec, 2, 3600)
			l.Put(be(uint64(id)), rec)
		}
		tx.Bucket([]byte("members")).Put([]byte("8e9e05c52164694d"),
			[]byte(`{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"bench","clientURLs":["http://localhost:2379"]}`))
		tx.Bucket([]byte("cluster")).Put([]byte("clusterVersion"), []byte("3.4.0"))
		a := tx.Bucket([]byte("auth"))
		a.Put([]byte("authEnabled"), []byte{0})
		a.Put([]byte("authRevision"), be(1))
		return nil
	})
	if err != nil {
		panic(err)
	}
	if err := db.Sync(); err != nil {
		panic(err)
	}
	db.Close()
	fi, _ := os.Stat(*out)
	live := 0
	for _, st := range state {
		if st.live {
			live++
		}
	}
	fmt.Printf("wrote %s: %d bytes, %d revision entries (%d tombstones, %d values over 4096 bytes) "+
		"over %d keys (%d live), main revisions 2..%d, in %.1fs\n",
		*out, fi.Size(), written, tombs, large, *keys, live, rev, time.Since(start).Seconds())
}
