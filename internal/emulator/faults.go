package emulator

import (
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// FaultConfig injects failures. Keys of the maps are operation names: VOD
// actions ("ApplyUpload", "CommitUpload", ...), COS operations as named by
// cos.Operation ("PutObject", "UploadPart", ...), "GetMedia" for the media
// URLs, or "*" for every operation. Each operation draws from its own
// random stream seeded from Seed, so a given sequence of requests to one
// operation always meets the same faults.
type FaultConfig struct {
	Seed int64 `yaml:"seed"`
	// ErrorRate is the probability that a request fails: COS answers 500
	// InternalError (XML), the API answers InternalError, media answers 500.
	ErrorRate map[string]float64 `yaml:"error_rate"`
	// Throttle makes the next N requests of the operation fail with
	// RequestLimitExceeded (COS: 503 SlowDown). Counted from SetFaults/Start.
	Throttle map[string]int `yaml:"throttle"`
	// ResetRate is the probability that the connection is reset after
	// ResetAfterBytes of the request body were read (before any answer).
	ResetRate       map[string]float64 `yaml:"reset_rate"`
	ResetAfterBytes int64              `yaml:"reset_after_bytes"` // default 64 KiB
	// Latency is added to the operation's requests (on top of Config.Latency).
	Latency map[string]time.Duration `yaml:"latency"`
	// AnswerLatency delays the operation's answer after the operation took
	// effect: a client that gives up (or dies) meanwhile never learns that
	// it succeeded (a lost answer).
	AnswerLatency map[string]time.Duration `yaml:"answer_latency"`
	// CertLifetime, when > 0, overrides Config.CertLifetime for the
	// temporary certificates issued from now on (early expiry).
	CertLifetime time.Duration `yaml:"cert_lifetime"`
}

// faultKind is what the fault injector decided for one request.
type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultThrottle
	faultReset
)

func (k faultKind) String() string {
	return [...]string{"none", "error", "throttle", "reset"}[k]
}

// faults holds the current FaultConfig and its random streams.
type faults struct {
	mu       sync.Mutex
	cfg      FaultConfig
	rngs     map[string]*rand.Rand
	throttle map[string]int
}

func newFaults(cfg FaultConfig) *faults {
	f := &faults{}
	f.set(cfg)
	return f
}

func (f *faults) set(cfg FaultConfig) {
	if cfg.ResetAfterBytes <= 0 {
		cfg.ResetAfterBytes = 64 << 10
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.rngs = map[string]*rand.Rand{}
	f.throttle = map[string]int{}
	for k, v := range cfg.Throttle {
		f.throttle[k] = v
	}
}

func (f *faults) certLifetime() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.CertLifetime
}

func (f *faults) resetAfter() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.ResetAfterBytes
}

// latency is the extra delay for op.
func (f *faults) latency(op string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.Latency["*"] + f.cfg.Latency[op]
}

// answerLatency is the delay of op's answer after the operation.
func (f *faults) answerLatency(op string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg.AnswerLatency["*"] + f.cfg.AnswerLatency[op]
}

// decide draws the fault (if any) for one request of op. Throttle bursts
// come first, then resets, then errors.
func (f *faults) decide(op string) faultKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range []string{op, "*"} {
		if f.throttle[k] > 0 {
			f.throttle[k]--
			return faultThrottle
		}
	}
	if f.roll(op, probability(f.cfg.ResetRate, op)) {
		return faultReset
	}
	if f.roll(op, probability(f.cfg.ErrorRate, op)) {
		return faultError
	}
	return faultNone
}

func probability(m map[string]float64, op string) float64 {
	if p, ok := m[op]; ok {
		return p
	}
	return m["*"]
}

// roll draws from op's stream only when p > 0, so enabling a fault for one
// operation never shifts another operation's sequence.
func (f *faults) roll(op string, p float64) bool {
	if p <= 0 {
		return false
	}
	r, ok := f.rngs[op]
	if !ok {
		h := fnv.New64a()
		h.Write([]byte(op))
		r = rand.New(rand.NewPCG(uint64(f.cfg.Seed), h.Sum64()))
		f.rngs[op] = r
	}
	return r.Float64() < p
}

// mergeFaults lays over on top of base: maps merge key by key, non-zero
// scalars replace.
func mergeFaults(base, over FaultConfig) FaultConfig {
	out := base
	if over.Seed != 0 {
		out.Seed = over.Seed
	}
	if over.ResetAfterBytes != 0 {
		out.ResetAfterBytes = over.ResetAfterBytes
	}
	if over.CertLifetime != 0 {
		out.CertLifetime = over.CertLifetime
	}
	out.ErrorRate = mergeMap(base.ErrorRate, over.ErrorRate)
	out.Throttle = mergeMap(base.Throttle, over.Throttle)
	out.ResetRate = mergeMap(base.ResetRate, over.ResetRate)
	out.Latency = mergeMap(base.Latency, over.Latency)
	out.AnswerLatency = mergeMap(base.AnswerLatency, over.AnswerLatency)
	return out
}

func mergeMap[V any](a, b map[string]V) map[string]V {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]V, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
