package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/app"
	"github.com/vodwatchd/vodwatchd/internal/config"
	"github.com/vodwatchd/vodwatchd/internal/uploader"
)

// checkOnline asks the account, with the configured credentials and
// endpoint and read-only calls: are the credentials accepted (SearchMedia),
// does every sub-application, task flow (procedure), category (class_id)
// and storage region the rules name exist (Describe*), and can COS be
// reached. It prints an ok line per check and returns the failures, joined.
func checkOnline(ctx context.Context, env *cmdEnv, cfg *config.Config) error {
	up, err := uploader.New(app.UploaderConfig(cfg, env.getenv, slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, _, err := up.FindMedia(ctx, "vodwatchd:check-online", time.Now()); err != nil {
		return fmt.Errorf("the VOD API at %s refused the request: %w", endpointOf(cfg), err)
	}
	okLine := func(format string, args ...any) {
		fmt.Fprintf(env.stdout, "%-5s online: %s\n", "ok", fmt.Sprintf(format, args...))
	}
	okLine("the VOD API at %s accepted the credentials", endpointOf(cfg))
	var problems []error
	uses := accountUses(cfg)
	primary, err := up.DescribeAccount(ctx, 0)
	if err != nil {
		return fmt.Errorf("describing the account: %w", err)
	}
	for _, sub := range sortedSubApps(uses) {
		u := uses[sub]
		acct := primary
		if sub != 0 {
			if !slices.Contains(primary.Apps, sub) {
				problems = append(problems, fmt.Errorf("sub_app_id %d (%s): not an application of this account (it has %s)",
					sub, strings.Join(u.where, ", "), joinUints(primary.Apps)))
				continue
			}
			if acct, err = up.DescribeAccount(ctx, sub); err != nil {
				problems = append(problems, fmt.Errorf("sub_app_id %d: %w", sub, err))
				continue
			}
			okLine("sub_app_id %d exists", sub)
		}
		problems = append(problems, u.check(acct, sub, okLine)...)
	}
	problems = append(problems, checkCOS(ctx, cfg, primary.DefaultRegion, okLine)...)
	return errors.Join(problems...)
}

// appUses is what the rules of one application ask for, and where.
type appUses struct {
	where      []string            // fields naming the application
	procedures map[string][]string // name -> fields
	classes    map[int64][]string
	regions    map[string][]string
}

// accountUses groups what the rules name by application (0: primary).
func accountUses(cfg *config.Config) map[uint64]*appUses {
	out := map[uint64]*appUses{}
	get := func(sub uint64) *appUses {
		if out[sub] == nil {
			out[sub] = &appUses{procedures: map[string][]string{}, classes: map[int64][]string{}, regions: map[string][]string{}}
		}
		return out[sub]
	}
	get(cfg.VOD.SubAppID).where = append(get(cfg.VOD.SubAppID).where, "vod.sub_app_id")
	for _, w := range cfg.Watch {
		for _, r := range w.Rules {
			u := get(r.SubAppID)
			u.where = append(u.where, r.Field)
			if r.Procedure != "" {
				u.procedures[r.Procedure] = append(u.procedures[r.Procedure], r.Field)
			}
			if r.ClassID != 0 {
				u.classes[r.ClassID] = append(u.classes[r.ClassID], r.Field)
			}
			if r.StorageRegion != "" {
				u.regions[r.StorageRegion] = append(u.regions[r.StorageRegion], r.Field)
			}
		}
	}
	return out
}

func (u *appUses) check(acct uploader.Account, sub uint64, okLine func(string, ...any)) []error {
	var problems []error
	in := ""
	if sub != 0 {
		in = fmt.Sprintf(" in sub-application %d", sub)
	}
	for _, p := range sortedKeys(u.procedures) {
		if slices.Contains(acct.Procedures, p) {
			okLine("procedure %q exists%s", p, in)
		} else {
			problems = append(problems, fmt.Errorf("procedure %q (%s): no such task flow%s (it has %s)", p,
				strings.Join(u.procedures[p], ", "), in, orDefault(strings.Join(acct.Procedures, ", "), "none")))
		}
	}
	classes := make([]int64, 0, len(u.classes))
	for c := range u.classes {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for _, c := range classes {
		if slices.Contains(acct.Classes, c) {
			okLine("class_id %d exists%s", c, in)
		} else {
			problems = append(problems, fmt.Errorf("class_id %d (%s): no such category%s", c, strings.Join(u.classes[c], ", "), in))
		}
	}
	for _, r := range sortedKeys(u.regions) {
		if slices.Contains(acct.Regions, r) {
			okLine("storage_region %s is opened%s", r, in)
		} else {
			problems = append(problems, fmt.Errorf("storage_region %s (%s): not opened for this account%s (opened: %s)", r,
				strings.Join(u.regions[r], ", "), in, orDefault(strings.Join(acct.Regions, ", "), "none")))
		}
	}
	return problems
}

// checkCOS connects to the COS endpoints uploads will use: the configured
// cos_endpoint, else cos.<region>.myqcloud.com of each storage region.
func checkCOS(ctx context.Context, cfg *config.Config, defaultRegion string, okLine func(string, ...any)) []error {
	port := "443"
	if strings.EqualFold(cfg.VOD.COSScheme, "http") {
		port = "80"
	}
	var hosts []string
	if cfg.VOD.COSEndpoint != "" {
		hosts = []string{cfg.VOD.COSEndpoint}
	} else {
		regions := map[string]bool{}
		if defaultRegion != "" {
			regions[defaultRegion] = true
		}
		for _, u := range accountUses(cfg) {
			for r := range u.regions {
				regions[r] = true
			}
		}
		for _, r := range sortedKeys(regions) {
			hosts = append(hosts, "cos."+r+".myqcloud.com")
		}
	}
	var problems []error
	d := net.Dialer{Timeout: 10 * time.Second}
	for _, h := range hosts {
		addr := h
		if _, _, err := net.SplitHostPort(h); err != nil {
			addr = net.JoinHostPort(h, port)
		}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			problems = append(problems, fmt.Errorf("COS at %s cannot be reached: %w", addr, err))
			continue
		}
		conn.Close()
		okLine("COS at %s is reachable", addr)
	}
	return problems
}

func sortedSubApps(m map[uint64]*appUses) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func joinUints(xs []uint64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatUint(x, 10)
	}
	return orDefault(strings.Join(s, ", "), "none")
}

func endpointOf(cfg *config.Config) string {
	if cfg.VOD.Endpoint != "" {
		return cfg.VOD.Endpoint
	}
	return "vod.tencentcloudapi.com"
}
