package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "cluster:\n" + minimalWatch, "config.yaml:1:9: cluster: empty section"},
		{"no endpoints", "cluster:\n  node: a\n" + minimalWatch, "config.yaml:2:3: cluster.endpoints: at least one etcd endpoint is required"},
		{"bad endpoint", "cluster:\n  endpoints: [etcd1, \"ftp://x:1\"]\n" + minimalWatch, "config.yaml:2:15: cluster.endpoints[0]: bad endpoint \"etcd1\": need host:port"},
		{"bad scheme", "cluster:\n  endpoints: [\"ftp://x:1\"]\n" + minimalWatch, "config.yaml:2:15: cluster.endpoints[0]: bad endpoint \"ftp://x:1\""},
		{"short ttl", "cluster:\n  endpoints: [x:2379]\n  lease_ttl: 1s\n" + minimalWatch, "cluster.lease_ttl: 1s is below the minimum 2s"},
		{"bad node", "cluster:\n  endpoints: [x:2379]\n  node: a/b\n" + minimalWatch, "config.yaml:3:9: cluster.node: bad node name \"a/b\""},
		{"bad prefix", "cluster:\n  endpoints: [x:2379]\n  prefix: vod\n" + minimalWatch, "config.yaml:3:11: cluster.prefix: bad prefix \"vod\""},
		{"inline password", "cluster:\n  endpoints: [x:2379]\n  username: u\n  password: hunter2\n" + minimalWatch, "config.yaml:4:13: cluster.password: want env:VARIABLE or file:PATH"},
		{"user alone", "cluster:\n  endpoints: [x:2379]\n  username: u\n" + minimalWatch, "cluster: username and password go together"},
		{"cert alone", "cluster:\n  endpoints: [x:2379]\n  tls: {cert: c.pem}\n" + minimalWatch, "cluster.tls: cert and key go together"},
		{"typo", "cluster:\n  endpoints: [x:2379]\n  lease_tll: 5s\n" + minimalWatch, "config.yaml:3:3: cluster.lease_tll: unknown key (did you mean \"lease_ttl\"?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestClusterDecoded(t *testing.T) {
	cfg, err := load(t, minimalWatch)
	if err != nil || cfg.Cluster != nil {
		t.Fatalf("without cluster: %+v, %v; want nil", cfg.Cluster, err)
	}
	cfg, err = load(t, `cluster:
  endpoints: ["127.0.0.1:2379", "https://etcd2:2379"]
  node: media-1
  lease_ttl: 4s
  prefix: /vod/prod/
  tls: {ca: ca.pem, cert: /etc/c.pem, key: k.pem}
  username: vodwatchd
  password: file:etcd.pw
`+minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	want := filepath.Join(cfg.Dir, "ca.pem")
	if c.Node != "media-1" || c.LeaseTTL != 4*time.Second || c.Prefix != "/vod/prod" || len(c.Endpoints) != 2 ||
		c.TLS.CA != want || c.TLS.Cert != "/etc/c.pem" || !c.TLS.Enabled() ||
		c.Password != (SecretRef{Kind: "file", Name: filepath.Join(cfg.Dir, "etcd.pw")}) {
		t.Fatalf("decoded %+v", c)
	}
	cfg, err = load(t, "cluster:\n  endpoints: [x:2379]\n"+minimalWatch)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := os.Hostname()
	if cfg.Cluster.Node != h || cfg.Cluster.LeaseTTL != DefaultLeaseTTL || cfg.Cluster.Prefix != DefaultClusterPrefix {
		t.Fatalf("defaults: %+v (host name %q)", cfg.Cluster, h)
	}
}
