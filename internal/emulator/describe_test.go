package emulator_test

import (
	"errors"
	"testing"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	sdkerrors "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"

	"github.com/vodwatchd/vodwatchd/internal/emulator"
	"github.com/vodwatchd/vodwatchd/internal/emulator/emulatortest"
)

// TestDescribeAccount asks the emulator, through the official SDK client,
// what `check --online` validates a config against.
func TestDescribeAccount(t *testing.T) {
	e := emulatortest.Start(t)
	vc := defaultClient(t, e)

	apps, err := vc.DescribeSubAppIds(vod.NewDescribeSubAppIdsRequest())
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, a := range apps.Response.SubAppIdInfoSet {
		ids = append(ids, *a.SubAppId)
	}
	want := append([]uint64{emulatortest.AppID}, emulator.DefaultSubAppIDs...)
	if len(ids) != len(want) || *apps.Response.TotalCount != uint64(len(want)) {
		t.Fatalf("sub-apps %v (total %d), want %v", ids, *apps.Response.TotalCount, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Errorf("sub-app %d = %d, want %d", i, ids[i], want[i])
		}
	}

	procs, err := vc.DescribeProcedureTemplates(vod.NewDescribeProcedureTemplatesRequest())
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, p := range procs.Response.ProcedureTemplateSet {
		types[*p.Name] = *p.Type
	}
	if len(types) != 2 || types["news-transcode"] != "Custom" || types["LongVideoPreset"] != "Preset" {
		t.Errorf("procedures %v", types)
	}
	one := vod.NewDescribeProcedureTemplatesRequest()
	one.Names = common.StringPtrs([]string{"news-transcode", "nope"})
	if r, err := vc.DescribeProcedureTemplates(one); err != nil || *r.Response.TotalCount != 1 {
		t.Errorf("procedures by name: %v %v", r, err)
	}

	classes, err := vc.DescribeAllClass(vod.NewDescribeAllClassRequest())
	if err != nil {
		t.Fatal(err)
	}
	if set := classes.Response.ClassInfoSet; len(set) != 1 || *set[0].ClassId != 12 {
		t.Errorf("classes %v, want only 12 (0 is never listed)", set)
	}

	regions, err := vc.DescribeStorageRegions(vod.NewDescribeStorageRegionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	def := 0
	for _, r := range regions.Response.StorageRegionInfos {
		if *r.IsDefault {
			def++
			if *r.Region != emulator.DefaultStorageRegions[0] {
				t.Errorf("default region %s, want %s", *r.Region, emulator.DefaultStorageRegions[0])
			}
		}
	}
	if len(regions.Response.StorageRegionInfos) != len(emulator.DefaultStorageRegions) || def != 1 {
		t.Errorf("%d regions, %d default", len(regions.Response.StorageRegionInfos), def)
	}

	// An unknown sub-application is refused like everywhere else.
	bad := vod.NewDescribeAllClassRequest()
	bad.SubAppId = common.Uint64Ptr(999)
	_, err = vc.DescribeAllClass(bad)
	var se *sdkerrors.TencentCloudSDKError
	if !errors.As(err, &se) || se.Code != "InvalidParameterValue.SubAppId" {
		t.Errorf("unknown sub-app: %v", err)
	}
	big := vod.NewDescribeProcedureTemplatesRequest()
	big.Limit = common.Uint64Ptr(101)
	if _, err = vc.DescribeProcedureTemplates(big); !errors.As(err, &se) || se.Code != "InvalidParameterValue.Limit" {
		t.Errorf("Limit 101: %v", err)
	}
}
