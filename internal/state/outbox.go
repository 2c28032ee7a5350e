package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vodwatchd/vodwatchd/internal/hooks"
)

// The hook outbox (schema 3): live deliveries, their due-time index and
// the dead letters. A delivery holds no secret (it names its hook).
var (
	bOutbox     = []byte("outbox")        // key -> hooks.Delivery JSON (live)
	bOutboxDue  = []byte("ix_outbox_due") // next_at (8 bytes, ns) key -> ""
	bOutboxDead = []byte("outbox_dead")   // key -> hooks.Delivery JSON (given up)
)

// Outbox is the store's hook outbox (it implements hooks.Outbox).
type Outbox struct{ s *Store }

// Outbox returns the hook outbox of the store.
func (s *Store) Outbox() *Outbox { return &Outbox{s: s} }

// MaxDeadLetters bounds the dead letters kept (the oldest go first).
const MaxDeadLetters = 1000

func addOutbox(tx *bolt.Tx) error {
	for _, b := range [][]byte{bOutbox, bOutboxDue, bOutboxDead} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	return nil
}

func dueKey(at time.Time, key string) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(key)), uint64(max(at.UnixNano(), 0)))
	return append(b, key...)
}

// Enqueue writes deliveries to the outbox; a key already there (live or
// dead) is left as it is.
func (o *Outbox) Enqueue(ctx context.Context, ds ...hooks.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return o.s.write(ctx, "enqueue hook deliveries", func(tx *bolt.Tx) error { return enqueueTx(tx, ds) })
}

func enqueueTx(tx *bolt.Tx, ds []hooks.Delivery) error {
	live, dead, due := tx.Bucket(bOutbox), tx.Bucket(bOutboxDead), tx.Bucket(bOutboxDue)
	for _, d := range ds {
		if d.Key == "" || d.Hook == "" {
			return fmt.Errorf("hook delivery for job %s: no key or hook", d.Facts.JobID)
		}
		if live.Get([]byte(d.Key)) != nil || dead.Get([]byte(d.Key)) != nil {
			continue
		}
		if err := putDelivery(live, d); err != nil {
			return err
		}
		if err := due.Put(dueKey(d.NextAt, d.Key), nil); err != nil {
			return err
		}
	}
	return nil
}

func putDelivery(b *bolt.Bucket, d hooks.Delivery) error {
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("hook delivery %s: encode: %w", d.Key, err)
	}
	return b.Put([]byte(d.Key), v)
}

func getDelivery(b *bolt.Bucket, key string) (*hooks.Delivery, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	d := new(hooks.Delivery)
	if err := json.Unmarshal(v, d); err != nil {
		return nil, fmt.Errorf("hook delivery %s: record unreadable: %w", key, err)
	}
	return d, nil
}

// Due returns up to limit live deliveries due at now, the earliest first.
func (o *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]hooks.Delivery, error) {
	var out []hooks.Delivery
	end := dueKey(now, "\xff")
	err := o.s.read(ctx, func(tx *bolt.Tx) error {
		live := tx.Bucket(bOutbox)
		c := tx.Bucket(bOutboxDue).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k, end) <= 0 && len(out) < limit; k, _ = c.Next() {
			if len(k) < 8 {
				continue
			}
			d, err := getDelivery(live, string(k[8:]))
			if err != nil {
				return err
			}
			if d != nil {
				out = append(out, *d)
			}
		}
		return nil
	})
	return out, err
}

// Delivered removes a delivered delivery from the outbox.
func (o *Outbox) Delivered(ctx context.Context, key string, _ hooks.Attempt) error {
	return o.s.write(ctx, "record hook delivery", func(tx *bolt.Tx) error {
		live := tx.Bucket(bOutbox)
		d, err := getDelivery(live, key)
		if err != nil || d == nil {
			return err
		}
		if err := tx.Bucket(bOutboxDue).Delete(dueKey(d.NextAt, key)); err != nil {
			return err
		}
		return live.Delete([]byte(key))
	})
}

// Failed records a failed attempt: the delivery is due again at next, or
// moves to the dead letters when next is zero.
func (o *Outbox) Failed(ctx context.Context, key string, a hooks.Attempt, next time.Time) error {
	return o.s.write(ctx, "record hook failure", func(tx *bolt.Tx) error {
		live, due := tx.Bucket(bOutbox), tx.Bucket(bOutboxDue)
		d, err := getDelivery(live, key)
		if err != nil || d == nil {
			return err
		}
		if err := due.Delete(dueKey(d.NextAt, key)); err != nil {
			return err
		}
		d.Attempts++
		d.Last = &a
		if next.IsZero() {
			d.Dead, d.NextAt = true, time.Time{}
			if err := live.Delete([]byte(key)); err != nil {
				return err
			}
			return putDead(tx.Bucket(bOutboxDead), *d)
		}
		d.NextAt = next
		if err := putDelivery(live, *d); err != nil {
			return err
		}
		return due.Put(dueKey(next, key), nil)
	})
}

// putDead stores a dead letter, dropping the oldest beyond MaxDeadLetters.
func putDead(b *bolt.Bucket, d hooks.Delivery) error {
	if err := putDelivery(b, d); err != nil {
		return err
	}
	if b.Stats().KeyN < MaxDeadLetters {
		return nil
	}
	var oldest []byte
	var at time.Time
	err := b.ForEach(func(k, v []byte) error {
		var x hooks.Delivery
		if json.Unmarshal(v, &x) == nil && (oldest == nil || x.Created.Before(at)) {
			oldest, at = append([]byte(nil), k...), x.Created
		}
		return nil
	})
	if err != nil || oldest == nil || b.Stats().KeyN <= MaxDeadLetters {
		return err
	}
	return b.Delete(oldest)
}

// OutboxStats counts the live deliveries and the dead letters.
type OutboxStats struct {
	Pending int `json:"pending"`
	Dead    int `json:"dead"`
}

// Stats counts the hook outbox.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := o.s.read(ctx, func(tx *bolt.Tx) error {
		st.Pending = tx.Bucket(bOutbox).Stats().KeyN
		st.Dead = tx.Bucket(bOutboxDead).Stats().KeyN
		return nil
	})
	return st, err
}

// DeadLetters returns the deliveries given up, oldest first.
func (o *Outbox) DeadLetters(ctx context.Context) ([]hooks.Delivery, error) {
	var out []hooks.Delivery
	err := o.s.read(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bOutboxDead).ForEach(func(k, v []byte) error {
			var d hooks.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("dead letter %s: record unreadable: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	sortDeliveries(out)
	return out, err
}

func sortDeliveries(ds []hooks.Delivery) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Created.Before(ds[j-1].Created); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}
