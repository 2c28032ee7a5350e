// Package deps pins the project's dependencies while the packages that use
// them are being written; it is removed once every dependency has a user.
package deps

import (
	_ "github.com/bmatcuk/doublestar/v4"
	_ "github.com/coreos/go-systemd/v22/daemon"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	_ "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	_ "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
	_ "github.com/tencentyun/cos-go-sdk-v5"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
)
