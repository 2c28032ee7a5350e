package emulator

import (
	"sort"
	"strings"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

const (
	searchDefaultLimit = 10
	searchMaxWindow    = 5000 // Offset + Limit
)

// mediaFilter is a SearchMedia request reduced to what uploads can match.
type mediaFilter struct {
	fileIDs, names, categories, types, regions, sourceTypes map[string]bool
	namePrefixes                                            []string
	classIDs                                                map[int64]bool
	text                                                    string
	after, before                                           time.Time
	impossible                                              bool // filters on things uploads never have
}

func (e *Emulator) searchMedia(c *caller, body []byte) (any, *apiError) {
	var p vod.SearchMediaRequestParams
	if aerr := decodeParams(body, &p); aerr != nil {
		return nil, aerr
	}
	sub, aerr := checkSubApp(c.acct, p.SubAppId)
	if aerr != nil {
		return nil, aerr
	}
	f, aerr := newMediaFilter(&p)
	if aerr != nil {
		return nil, aerr
	}
	offset, limit := deref(p.Offset), uint64(searchDefaultLimit)
	if p.Limit != nil {
		limit = *p.Limit
	}
	if offset+limit > searchMaxWindow {
		return nil, newAPIError("InvalidParameterValue", "Offset + Limit must not exceed %d.", searchMaxWindow)
	}
	var hits []MediaInfo
	e.store.mu.Lock()
	for _, m := range e.store.data.Media {
		if visible(c.acct, sub, m) && f.match(m) {
			hits = append(hits, *m)
		}
	}
	e.store.mu.Unlock()
	if aerr := sortMedia(hits, p.Sort); aerr != nil {
		return nil, aerr
	}
	total := uint64(len(hits))
	set := []mediaInfoJSON{}
	for i := offset; i < total && i < offset+limit; i++ {
		set = append(set, e.toJSON(hits[i]))
	}
	return map[string]any{"TotalCount": total, "MediaInfoSet": set}, nil
}

func newMediaFilter(p *vod.SearchMediaRequestParams) (*mediaFilter, *apiError) {
	f := &mediaFilter{
		fileIDs: strSet(p.FileIds, false), names: strSet(p.Names, false),
		categories: strSet(p.Categories, true), types: strSet(p.MediaTypes, true),
		regions: strSet(p.StorageRegions, false), sourceTypes: strSet(p.SourceTypes, true),
		text: deref(p.Text),
	}
	for _, s := range p.NamePrefixes {
		f.namePrefixes = append(f.namePrefixes, deref(s))
	}
	if st := deref(p.SourceType); st != "" {
		f.sourceTypes[strings.ToLower(st)] = true
	}
	if len(p.ClassIds) > 0 {
		f.classIDs = map[int64]bool{}
		for _, id := range p.ClassIds {
			f.classIDs[deref(id)] = true
		}
	}
	f.impossible = len(p.Tags) > 0 || len(p.StreamIds) > 0 || len(p.Vids) > 0 || deref(p.Vid) != "" ||
		deref(p.StreamId) != "" || len(p.TrtcSdkAppIds) > 0 || len(p.TrtcRoomIds) > 0
	var aerr *apiError
	if p.CreateTime != nil {
		if f.after, aerr = parseBound("CreateTime.After", p.CreateTime.After); aerr != nil {
			return nil, aerr
		}
		if f.before, aerr = parseBound("CreateTime.Before", p.CreateTime.Before); aerr != nil {
			return nil, aerr
		}
	}
	// The deprecated StartTime/EndTime pair means the same as CreateTime.
	if f.after.IsZero() {
		if f.after, aerr = parseBound("StartTime", p.StartTime); aerr != nil {
			return nil, aerr
		}
	}
	if f.before.IsZero() {
		if f.before, aerr = parseBound("EndTime", p.EndTime); aerr != nil {
			return nil, aerr
		}
	}
	return f, nil
}

func parseBound(field string, v *string) (time.Time, *apiError) {
	if deref(v) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return time.Time{}, newAPIError("InvalidParameterValue", "%s `%s` is not an ISO 8601 date and time.", field, clipName(*v))
	}
	return t, nil
}

func strSet(xs []*string, lower bool) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		v := deref(x)
		if lower {
			v = strings.ToLower(v)
		}
		m[v] = true
	}
	return m
}

func (f *mediaFilter) match(m *MediaInfo) bool {
	switch {
	case f.impossible:
		return false
	case len(f.fileIDs) > 0 && !f.fileIDs[m.FileID]:
		return false
	case len(f.names) > 0 && !f.names[m.Name]:
		return false
	case len(f.namePrefixes) > 0 && !hasAnyPrefix(m.Name, f.namePrefixes):
		return false
	case f.text != "" && !strings.Contains(m.Name, f.text):
		return false
	case len(f.categories) > 0 && !f.categories[strings.ToLower(categoryOf(m.Type))]:
		return false
	case len(f.types) > 0 && !f.types[m.Type]:
		return false
	case len(f.regions) > 0 && !f.regions[m.StorageRegion]:
		return false
	case len(f.sourceTypes) > 0 && !f.sourceTypes["upload"]:
		return false
	case f.classIDs != nil && !f.classIDs[m.ClassID]:
		return false
	case !f.after.IsZero() && m.Created.Before(f.after):
		return false
	case !f.before.IsZero() && !m.Created.Before(f.before):
		return false
	}
	return true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// sortMedia orders by CreateTime (default newest first), FileId breaking ties.
func sortMedia(ms []MediaInfo, by *vod.SortBy) *apiError {
	asc := false
	if by != nil {
		if f := deref(by.Field); f != "" && f != "CreateTime" {
			return newAPIError("InvalidParameterValue", "Sort.Field `%s` is not supported; use CreateTime.", clipName(f))
		}
		switch deref(by.Order) {
		case "Asc":
			asc = true
		case "", "Desc":
		default:
			return newAPIError("InvalidParameterValue", "Sort.Order must be Asc or Desc.")
		}
	}
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created) == asc
		}
		return (a.FileID < b.FileID) == asc
	})
	return nil
}
