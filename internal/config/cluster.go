package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Cluster is the optional `cluster:` section: several nodes on one shared
// folder, coordinated through etcd. Config.Cluster is nil without it.
type Cluster struct {
	Endpoints   []string      // etcd client endpoints: host:port or http(s)://host:port
	Node        string        // this node's unique name; default the host name
	Address     string        // how operators reach this node (shown by status); default listen:
	LeaseTTL    time.Duration // a dead node's jobs are taken over after this
	Prefix      string        // etcd key prefix shared by the cluster's nodes
	DialTimeout time.Duration
	TLS         ClusterTLS
	Username    string
	Password    SecretRef // with Username
	Pos         Pos       // where the section starts
}

// ClusterTLS names the files of an etcd TLS connection.
type ClusterTLS struct {
	CA   string // CA bundle to verify the server; "" = system roots
	Cert string // client certificate (with Key)
	Key  string
}

// Enabled reports whether any TLS setting was given.
func (t ClusterTLS) Enabled() bool { return t.CA != "" || t.Cert != "" }

// SecretRef says where a secret is read at start-up: env:NAME or
// file:PATH. The secret itself never enters the configuration.
type SecretRef struct {
	Kind string // "env" or "file"; "" = none
	Name string // env: variable name; file: absolute path
}

// Cluster defaults.
const (
	DefaultLeaseTTL      = 10 * time.Second
	DefaultClusterPrefix = "/vodwatchd"
	minLeaseTTL          = 2 * time.Second // etcd's shortest lease with default timing
)

func (d *decoder) decodeCluster(n *yaml.Node, field string, cfg *Config) {
	c := &Cluster{LeaseTTL: DefaultLeaseTTL, Prefix: DefaultClusterPrefix, DialTimeout: 5 * time.Second,
		Pos: d.pos(d.resolve(n))}
	var password *string
	var pwNode *yaml.Node
	if !d.mapping(n, field, map[string]handler{
		"endpoints":    set(d, &c.Endpoints, cEndpoints),
		"node":         set(d, &c.Node, cNodeName),
		"address":      set(d, &c.Address, cString),
		"lease_ttl":    set(d, &c.LeaseTTL, cDuration),
		"prefix":       set(d, &c.Prefix, cPrefix),
		"dial_timeout": set(d, &c.DialTimeout, cDuration),
		"tls": func(n *yaml.Node, f string) {
			d.mapping(n, f, map[string]handler{
				"ca":   set(d, &c.TLS.CA, cPath),
				"cert": set(d, &c.TLS.Cert, cPath),
				"key":  set(d, &c.TLS.Key, cPath),
			})
		},
		"username": set(d, &c.Username, cString),
		"password": func(n *yaml.Node, f string) { pwNode = n; setPtr(d, &password, cString)(n, f) },
	}) {
		if isNull(d.resolve(n)) {
			d.errorf(d.resolve(n), field, "empty section: give at least endpoints")
		}
		return
	}
	rn := d.resolve(n)
	if len(c.Endpoints) == 0 {
		d.errorf(rn, join(field, "endpoints"), "at least one etcd endpoint is required")
	}
	if c.LeaseTTL < minLeaseTTL {
		d.errorf(rn, join(field, "lease_ttl"), "%s is below the minimum %s", c.LeaseTTL, minLeaseTTL)
	}
	if c.DialTimeout <= 0 {
		d.errorf(rn, join(field, "dial_timeout"), "must be positive")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		d.errorf(rn, join(field, "tls"), "cert and key go together")
	}
	if password != nil {
		ref, err := parseSecretRef(*password)
		if err != nil {
			d.errorf(d.resolve(pwNode), join(field, "password"), "%v", err)
		}
		if ref.Kind == "file" {
			ref.Name = d.abs(ref.Name)
		}
		c.Password = ref
	}
	if (c.Username == "") != (c.Password.Kind == "") {
		d.errorf(rn, field, "username and password go together")
	}
	if c.Node == "" {
		h, err := os.Hostname()
		if name, ok := nodeName(h); err == nil && ok {
			c.Node = name
		} else {
			d.errorf(rn, join(field, "node"), "no node name given and the host name %q cannot be one; set node:", h)
		}
	}
	cfg.Cluster = c
}

// parseSecretRef reads env:NAME or file:PATH; an inline secret is refused.
func parseSecretRef(s string) (SecretRef, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch {
	case kind == "env" && arg != "" && !strings.ContainsAny(arg, "= \t"):
		return SecretRef{Kind: "env", Name: arg}, nil
	case kind == "file" && arg != "":
		return SecretRef{Kind: "file", Name: arg}, nil
	}
	return SecretRef{}, fmt.Errorf("want env:VARIABLE or file:PATH (the password itself never goes in the file)")
}

// nodeName accepts a name usable in etcd keys: no '/', '@' or spaces.
func nodeName(s string) (string, bool) {
	if s == "" || len(s) > 128 || strings.ContainsAny(s, "/@ \t\r\n") {
		return "", false
	}
	return s, true
}

func cNodeName(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a node name")
	if !ok {
		return "", false
	}
	if _, ok := nodeName(s); !ok {
		d.errorf(d.resolve(n), field, "bad node name %q (1-128 characters, no '/', '@' or spaces)", s)
		return "", false
	}
	return s, true
}

func cPrefix(d *decoder, n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field, "a key prefix")
	if !ok {
		return "", false
	}
	if !strings.HasPrefix(s, "/") || strings.Trim(s, "/") == "" || strings.ContainsAny(s, " \t\r\n\x00") {
		d.errorf(d.resolve(n), field, "bad prefix %q (an absolute key path such as /vodwatchd)", s)
		return "", false
	}
	return strings.TrimRight(s, "/"), true
}

// cEndpoints accepts host:port or http(s)://host:port entries.
func cEndpoints(d *decoder, n *yaml.Node, field string) ([]string, bool) {
	list, ok := cStrings(d, n, field)
	if !ok {
		return nil, false
	}
	for i, e := range list {
		if err := checkEndpoint(e); err != nil {
			d.errorf(d.resolve(d.resolve(n).Content[i]), index(field, i), "%v", err)
			ok = false
		}
	}
	return list, ok
}

func checkEndpoint(e string) error {
	hostport := e
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" {
			return fmt.Errorf("bad endpoint %q (host:port or http(s)://host:port)", e)
		}
		hostport = u.Host
	}
	host, _, err := splitHostPort(hostport)
	if err != nil || host == "" {
		return fmt.Errorf("bad endpoint %q: need host:port", e)
	}
	return nil
}
