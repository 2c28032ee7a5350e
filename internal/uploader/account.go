package uploader

import (
	"context"
	"fmt"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// Account is what a VOD account (or one of its sub-applications) has that
// an upload may name: `vodwatchd check --online` validates a configuration
// against it before the daemon runs.
type Account struct {
	Apps          []uint64 // the account's applications (primary and sub-applications)
	Procedures    []string // task flow names
	Classes       []int64  // category ids (0, "other", always exists and is not listed)
	Regions       []string // storage regions opened
	DefaultRegion string
}

// maxProcedurePages bounds the task flow listing (100 per page).
const maxProcedurePages = 50

// DescribeAccount asks VOD, with the uploader's own credentials and
// endpoint, for the applications of the account and, in subAppID (0: the
// primary application), its task flows, categories and storage regions.
func (u *Uploader) DescribeAccount(ctx context.Context, subAppID uint64) (Account, error) {
	sc := &scrubber{}
	c, err := u.vodClient(ctx, sc)
	if err != nil {
		return Account{}, err
	}
	var sub *uint64
	if subAppID != 0 {
		sub = &subAppID
	}
	var a Account
	apps, err := c.DescribeSubAppIdsWithContext(ctx, vod.NewDescribeSubAppIdsRequest())
	if err != nil {
		return a, sc.classify("DescribeSubAppIds", err)
	}
	for _, s := range apps.Response.SubAppIdInfoSet {
		if s != nil && s.SubAppId != nil {
			a.Apps = append(a.Apps, *s.SubAppId)
		}
	}
	for page := uint64(0); page < maxProcedurePages; page++ {
		in := vod.NewDescribeProcedureTemplatesRequest()
		in.SubAppId, in.Offset, in.Limit = sub, ptrTo(page*100), ptrTo(uint64(100))
		out, err := c.DescribeProcedureTemplatesWithContext(ctx, in)
		if err != nil {
			return a, sc.classify("DescribeProcedureTemplates", err)
		}
		for _, p := range out.Response.ProcedureTemplateSet {
			if p != nil && p.Name != nil {
				a.Procedures = append(a.Procedures, *p.Name)
			}
		}
		if len(out.Response.ProcedureTemplateSet) < 100 {
			break
		}
	}
	cin := vod.NewDescribeAllClassRequest()
	cin.SubAppId = sub
	classes, err := c.DescribeAllClassWithContext(ctx, cin)
	if err != nil {
		return a, sc.classify("DescribeAllClass", err)
	}
	for _, cl := range classes.Response.ClassInfoSet {
		if cl != nil && cl.ClassId != nil {
			a.Classes = append(a.Classes, *cl.ClassId)
		}
	}
	rin := vod.NewDescribeStorageRegionsRequest()
	rin.SubAppId = sub
	regions, err := c.DescribeStorageRegionsWithContext(ctx, rin)
	if err != nil {
		return a, sc.classify("DescribeStorageRegions", err)
	}
	for _, r := range regions.Response.StorageRegionInfos {
		if r == nil || r.Region == nil || (r.Status != nil && *r.Status != "Opened") {
			continue
		}
		a.Regions = append(a.Regions, *r.Region)
		if r.IsDefault != nil && *r.IsDefault {
			a.DefaultRegion = *r.Region
		}
	}
	return a, nil
}

func ptrTo[T any](v T) *T { return &v }

// String summarizes the account for messages (no secrets in it).
func (a Account) String() string {
	return fmt.Sprintf("%d app(s), %d task flow(s), %d categories, regions %v", len(a.Apps), len(a.Procedures), len(a.Classes), a.Regions)
}
