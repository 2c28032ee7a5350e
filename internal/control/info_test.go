package control

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

func TestDaemonInfo(t *testing.T) {
	want := DaemonInfo{BandwidthLimit: 20 << 20, UploadRate: 1.5e6, Active: 2,
		QueueByPriority: map[string]int{"10": 3, "0": 7}, StateError: "state_error"}
	tests := []struct {
		name string
		info InfoFunc
		ok   bool
	}{
		{"reported", func(context.Context) (DaemonInfo, error) { return want, nil }, true},
		{"not offered", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sock := filepath.Join(dir, "s.sock")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- Serve(ctx, sock, s, tt.info) }()
			defer func() { cancel(); <-done }()
			var c *Client
			deadline := time.Now().Add(5 * time.Second)
			for c == nil {
				if c, err = Dial(ctx, sock); err != nil && time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			defer c.Close()
			got, err := c.Info(ctx)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("info = %+v, want %+v", got, want)
			}
		})
	}
}
