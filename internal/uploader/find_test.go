package uploader

import (
	"context"
	"testing"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
)

func TestFindMedia(t *testing.T) {
	env := newEnv(t, nil)
	dir := t.TempDir()
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	results := map[string]Result{}
	for _, sc := range []string{"vodwatchd:aaaa", "vodwatchd:bbbb"} {
		res, err := env.u.Upload(ctx, Request{MediaFilePath: writeFile(t, dir, sc[10:]+".mp4", 1000), SourceContext: sc}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		results[sc] = res
	}
	tests := []struct {
		name   string
		sc     string
		since  time.Time
		wantOK bool
	}{
		{"first", "vodwatchd:aaaa", start, true},
		{"second", "vodwatchd:bbbb", start, true},
		{"unknown context", "vodwatchd:cccc", start, false},
		{"created before since", "vodwatchd:aaaa", time.Now().Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := env.u.FindMedia(ctx, tt.sc, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Fatalf("found = %v, want %v", ok, tt.wantOK)
			}
			if ok && (got.FileID != results[tt.sc].FileID || got.MediaURL != results[tt.sc].MediaURL) {
				t.Fatalf("found %+v, want %+v", got, results[tt.sc])
			}
		})
	}
	if _, _, err := env.u.FindMedia(ctx, "", start); err == nil {
		t.Fatal("an empty SourceContext was searched for")
	}
}

// TestCertificateExpiresMidUpload: the session's certificate dies while
// parts are being sent; the uploader applies for a new session and the
// upload completes, once.
func TestCertificateExpiresMidUpload(t *testing.T) {
	env := newEnv(t, []func(*emulator.Config){func(c *emulator.Config) {
		c.Latency = 40 * time.Millisecond
		c.Faults = emulator.FaultConfig{CertLifetime: 500 * time.Millisecond} // the first session only
	}}, func(c *Config) {
		c.CertMargin = 100 * time.Millisecond
		c.PartsInFlight = 2
	})
	p := writeFile(t, t.TempDir(), "long.mp4", 12*mib)
	first, slept, appliedAt := "", false, time.Time{}
	prog := ProgressFunc(func(_ context.Context, cp *Checkpoint) error {
		if cp.SessionKey == "" {
			return nil
		}
		env.emu.SetFaults(emulator.FaultConfig{}) // later sessions get the normal lifetime
		if first == "" {
			first, appliedAt = cp.SessionKey, time.Now()
		}
		// Once a part of the first session is stored, wait out its
		// certificate (its ExpiredTime is in whole seconds, so count from
		// the apply): the parts still to send meet an expired one.
		if cp.SessionKey == first && !slept && countParts(cp) > 0 {
			slept = true
			time.Sleep(time.Until(appliedAt.Add(700 * time.Millisecond)))
		}
		return nil
	})
	res, err := env.u.Upload(context.Background(), Request{MediaFilePath: p}, nil, prog)
	if err != nil {
		t.Fatalf("upload with an expiring certificate: %v\n%s", err, env.logs)
	}
	assertServed(t, res.MediaURL, p)
	if st := env.emu.Stats(); st.Applies != 2 {
		t.Fatalf("%d ApplyUpload calls, want 2 (the first certificate expired mid-upload)\n%s", st.Applies, env.logs)
	}
	if n := len(env.emu.Media()); n != 1 {
		t.Fatalf("%d media committed, want 1", n)
	}
}
