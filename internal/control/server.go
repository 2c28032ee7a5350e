package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/state"
)

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// Serve answers control requests for jobs on a unix socket at socketPath
// (mode 0600) until ctx ends, then removes the socket. A stale socket left
// by a dead daemon is replaced; a live one, or a file that is not a
// socket, is an error.
//
// info, when not nil, answers `status`'s questions about the daemon itself.
func Serve(ctx context.Context, socketPath string, jobs Jobs, info InfoFunc) error {
	ln, err := listen(ctx, socketPath)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newHandler(jobs, info), ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control socket %s: %w", socketPath, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	<-errc
	_ = os.Remove(socketPath)
	if err != nil {
		return fmt.Errorf("control socket %s: shutdown: %w", socketPath, err)
	}
	return nil
}

func listen(ctx context.Context, path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket %s: path is %d bytes, longer than the %d a unix socket allows", path, len(path), maxSocketPath)
	}
	if err := removeStale(ctx, path); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// removeStale removes a socket nobody answers on.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s exists and is not a socket; refusing to replace it", path)
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("control socket %s is in use by another running vodwatchd", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control socket %s: probing it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}

type handler struct{ jobs Jobs }

func newHandler(jobs Jobs, info InfoFunc) http.Handler {
	h := &handler{jobs: jobs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) { reply(w, map[string]bool{"ok": true}) })
	mux.HandleFunc("GET /v1/jobs", h.list)
	mux.HandleFunc("GET /v1/job", h.get)
	mux.HandleFunc("GET /v1/find", h.find)
	mux.HandleFunc("POST /v1/retry", h.retry)
	mux.HandleFunc("POST /v1/forget", h.forget)
	mux.HandleFunc("GET /v1/info", infoHandler(info))
	return mux
}

type jobsReply struct {
	Jobs []*state.Job `json:"jobs"`
}

type jobReply struct {
	Job *state.Job `json:"job"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, err := filterFromQuery(r)
	if err != nil {
		fail(w, &RemoteError{Code: "bad_request", Message: err.Error()}, http.StatusBadRequest)
		return
	}
	jobs, err := h.jobs.List(r.Context(), f)
	respond(w, jobsReply{Jobs: jobs}, err)
}

func filterFromQuery(r *http.Request) (state.Filter, error) {
	q := r.URL.Query()
	f := state.Filter{Root: q.Get("root"), RelPrefix: q.Get("prefix"), IDs: q["id"]}
	for _, s := range q["stage"] {
		st, err := state.ParseStage(s)
		if err != nil {
			return f, err
		}
		f.Stages = append(f.Stages, st)
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return f, fmt.Errorf("limit %q is not a count", l)
		}
		f.Limit = n
	}
	return f, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	j, err := h.jobs.Get(r.Context(), r.URL.Query().Get("id"))
	respond(w, jobReply{Job: j}, err)
}

func (h *handler) find(w http.ResponseWriter, r *http.Request) {
	jobs, err := h.jobs.FindPath(r.Context(), r.URL.Query().Get("path"))
	respond(w, jobsReply{Jobs: jobs}, err)
}

func (h *handler) retry(w http.ResponseWriter, r *http.Request) {
	j, err := h.jobs.Retry(r.Context(), r.URL.Query().Get("id"))
	respond(w, jobReply{Job: j}, err)
}

func (h *handler) forget(w http.ResponseWriter, r *http.Request) {
	err := h.jobs.Forget(r.Context(), r.URL.Query().Get("id"), r.URL.Query().Get("force") == "1")
	respond(w, map[string]bool{"ok": true}, err)
}

func respond(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code, status := codeOf(err)
		fail(w, &RemoteError{Code: code, Message: err.Error()}, status)
		return
	}
	reply(w, v)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, e *RemoteError, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}
