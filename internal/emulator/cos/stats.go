package cos

import (
	"sync"
	"time"
)

// Stats is a snapshot of what the server has received.
type Stats struct {
	Requests      map[string]int64       // per operation ("" = not a known COS operation)
	Errors        map[string]int64       // per error code
	PartsReceived map[string]map[int]int // upload id -> part number -> times stored
	BytesReceived int64                  // request body bytes read for objects and parts
}

type statsCollector struct {
	mu       sync.Mutex
	reqs     map[string]int64
	errs     map[string]int64
	parts    map[string]map[int]int
	received int64
}

func (c *statsCollector) init() {
	c.reqs, c.errs, c.parts = map[string]int64{}, map[string]int64{}, map[string]map[int]int{}
}

func (c *statsCollector) request(op string) {
	c.mu.Lock()
	c.reqs[op]++
	c.mu.Unlock()
}

func (c *statsCollector) failure(_, code string) {
	c.mu.Lock()
	c.errs[code]++
	c.mu.Unlock()
}

func (c *statsCollector) part(id string, n int) {
	c.mu.Lock()
	if c.parts[id] == nil {
		c.parts[id] = map[int]int{}
	}
	c.parts[id][n]++
	c.mu.Unlock()
}

func (c *statsCollector) bytes(n int64) {
	c.mu.Lock()
	c.received += n
	c.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{Requests: map[string]int64{}, Errors: map[string]int64{},
		PartsReceived: map[string]map[int]int{}, BytesReceived: c.received}
	for k, v := range c.reqs {
		st.Requests[k] = v
	}
	for k, v := range c.errs {
		st.Errors[k] = v
	}
	for id, m := range c.parts {
		cp := make(map[int]int, len(m))
		for n, v := range m {
			cp[n] = v
		}
		st.PartsReceived[id] = cp
	}
	return st
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
