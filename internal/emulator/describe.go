package emulator

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// The account-describing actions (v2018-07-17) that `vodwatchd check
// --online` asks before any upload: which sub-applications, task flows
// (procedures), categories (classes) and storage regions the account has.
// Answers follow the SDK's response models; only the fields a client can
// rely on for validation are filled. api.go's actions() registers them.

// presetProcedures are the task flows VOD ships with (Type "Preset").
var presetProcedures = map[string]bool{"LongVideoPreset": true}

// page applies Offset/Limit (limit def when unset; more than max is an
// error, as the service answers).
func page[T any](items []T, offset, limit *uint64, def, max uint64) ([]T, *apiError) {
	n := def
	if limit != nil {
		n = *limit
	}
	if n > max {
		return nil, newAPIError("InvalidParameterValue.Limit", "Limit %d exceeds the maximum of %d.", n, max)
	}
	off := deref(offset)
	if off >= uint64(len(items)) {
		return []T{}, nil
	}
	return items[off:min(off+n, uint64(len(items)))], nil
}

func (e *Emulator) describeSubAppIds(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeSubAppIdsRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	ids := append([]uint64{c.acct.AppID}, sortedKeys(c.acct.subApps)...)
	var set []*vod.SubAppIdInfo
	for _, id := range ids {
		name := fmt.Sprintf("app-%d", id)
		if id == c.acct.AppID {
			name = "Primary application"
		}
		if want := deref(p.Name); want != "" && !strings.Contains(name, want) {
			continue
		}
		set = append(set, &vod.SubAppIdInfo{SubAppId: ptr(id), SubAppIdName: ptr(name), Name: ptr(name),
			Status: ptr("On"), Mode: ptr("fileid"), CreateTime: ptr("2024-01-01T00:00:00Z")})
	}
	out, aerr := page(set, p.Offset, p.Limit, 200, 200)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"SubAppIdInfoSet": out, "TotalCount": len(set)}, nil
}

func (e *Emulator) describeProcedureTemplates(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeProcedureTemplatesRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	if _, aerr := checkSubApp(c.acct, p.SubAppId); aerr != nil {
		return nil, aerr
	}
	typ := deref(p.Type)
	if typ != "" && typ != "Preset" && typ != "Custom" {
		return nil, newAPIError("InvalidParameterValue.Type", "Type must be Preset or Custom, got %q.", clipName(typ))
	}
	names := strSet(p.Names, false)
	var set []*vod.ProcedureTemplate
	for _, name := range sortedKeys(c.acct.procedures) {
		t := "Custom"
		if presetProcedures[name] {
			t = "Preset"
		}
		if (len(names) > 0 && !names[name]) || (typ != "" && typ != t) {
			continue
		}
		set = append(set, &vod.ProcedureTemplate{Name: ptr(name), Type: ptr(t),
			CreateTime: ptr("2024-01-01T00:00:00Z"), UpdateTime: ptr("2024-01-01T00:00:00Z")})
	}
	out, aerr := page(set, p.Offset, p.Limit, 10, 100)
	if aerr != nil {
		return nil, aerr
	}
	return map[string]any{"ProcedureTemplateSet": out, "TotalCount": len(set)}, nil
}

func (e *Emulator) describeAllClass(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeAllClassRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	if _, aerr := checkSubApp(c.acct, p.SubAppId); aerr != nil {
		return nil, aerr
	}
	set := []*vod.MediaClassInfo{}
	for _, id := range sortedKeys(c.acct.classes) {
		if id == 0 { // "other", the category every account has, is not listed
			continue
		}
		name := fmt.Sprintf("class-%d", id)
		set = append(set, &vod.MediaClassInfo{ClassId: ptr(id), ParentId: ptr(int64(-1)), Name: ptr(name),
			ClassName: ptr(name), Level: ptr(uint64(1)), SubClassIdSet: []*int64{}})
	}
	return map[string]any{"ClassInfoSet": set}, nil
}

func (e *Emulator) describeStorageRegions(c *caller, body []byte) (any, *apiError) {
	var p vod.DescribeStorageRegionsRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	if _, aerr := checkSubApp(c.acct, p.SubAppId); aerr != nil {
		return nil, aerr
	}
	set := []*vod.StorageRegionInfo{}
	for _, r := range sortedKeys(c.acct.regions) {
		area := "Chinese Mainland"
		if !slices.Contains(DefaultStorageRegions, r) {
			area = "Outside Chinese Mainland"
		}
		set = append(set, &vod.StorageRegionInfo{Region: ptr(r), Description: ptr(r), Status: ptr("Opened"),
			IsDefault: ptr(r == c.acct.defaultRegion), Area: ptr(area)})
	}
	return map[string]any{"StorageRegionInfos": set}, nil
}

func sortedKeys[K cmp.Ordered](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func ptr[T any](v T) *T { return &v }
