package cluster

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The key layout under the prefix:
//
//	nodes/<node>     NodeInfo, bound to the node's lease
//	claims/<job>     "<node>@<lease hex>", bound to the holder's lease
//	started/<job>    StartRecord: who first sent bytes for the job (no lease)
//	done/<job>       DoneRecord: the commit that holds for the job (no lease)
//	retry/<job>      a cluster-wide retry request for the job's holder
const (
	nodesDir   = "nodes/"
	claimsDir  = "claims/"
	startedDir = "started/"
	doneDir    = "done/"
	retryDir   = "retry/"
)

// keys builds the etcd keys of one cluster (one prefix).
type keys struct{ prefix string }

func newKeys(prefix string) keys {
	p := path.Clean("/" + strings.Trim(prefix, "/"))
	if p != "/" {
		p += "/"
	}
	return keys{prefix: p}
}

func (k keys) node(name string) string    { return k.prefix + nodesDir + name }
func (k keys) claim(job string) string    { return k.prefix + claimsDir + job }
func (k keys) start(job string) string    { return k.prefix + startedDir + job }
func (k keys) done(job string) string     { return k.prefix + doneDir + job }
func (k keys) retry(job string) string    { return k.prefix + retryDir + job }
func (k keys) dir(d string) string        { return k.prefix + d }
func (k keys) jobOf(d, key string) string { return strings.TrimPrefix(key, k.prefix+d) }

// NodeInfo is a node's registration.
type NodeInfo struct {
	Name    string    `json:"name"`
	Address string    `json:"address,omitempty"`
	Started time.Time `json:"started"`
	Lease   string    `json:"lease"` // hex lease id
	// TTLLeft is the lease's remaining time, filled in by Inspect.
	TTLLeft time.Duration `json:"-"`
}

// StartRecord says which node incarnation first sent bytes for a job.
type StartRecord struct {
	Holder string    `json:"holder"` // "<node>@<lease hex>"
	At     time.Time `json:"at"`
}

// DoneRecord is the commit that holds for a job, cluster-wide.
type DoneRecord struct {
	FileID   string    `json:"file_id"`
	MediaURL string    `json:"media_url,omitempty"`
	CoverURL string    `json:"cover_url,omitempty"`
	Node     string    `json:"node"`
	At       time.Time `json:"at"`
	PostDone bool      `json:"post_done,omitempty"` // the post-action ran
}

// holderValue is a claim's value: the node name and its lease, so a claim
// made under an expired lease never matches the node's new one.
func holderValue(node string, lease clientv3.LeaseID) string {
	return node + "@" + strconv.FormatInt(int64(lease), 16)
}

// holderNode is the node name of a claim value.
func holderNode(v string) string {
	name, _, _ := strings.Cut(v, "@")
	return name
}

func decodeJSON[T any](what, key string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("cluster: %s record %s: %w", what, key, err)
	}
	return v, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding %T: %v", v, err)) // plain structs: cannot fail
	}
	return string(b)
}
