package uploader

import (
	"context"
	"fmt"
	"time"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// searchPage is how many media one SearchMedia call returns; the service
// allows offset+limit up to 5000.
const searchPage = 100

// maxSearched bounds how many media FindMedia looks at.
const maxSearched = 5000

// FindMedia looks VOD up for the media whose SourceContext is
// sourceContext, created at or after since (in the primary application).
// It settles an upload whose CommitUpload went unanswered and whose session
// the service no longer knows. SearchMedia cannot filter on SourceContext,
// so it lists the media created since then and compares.
func (u *Uploader) FindMedia(ctx context.Context, sourceContext string, since time.Time) (Result, bool, error) {
	return u.FindMediaIn(ctx, 0, sourceContext, since)
}

// FindMediaIn is FindMedia in sub-application subAppID (0: primary).
func (u *Uploader) FindMediaIn(ctx context.Context, subAppID uint64, sourceContext string, since time.Time) (Result, bool, error) {
	if sourceContext == "" {
		return Result{}, false, fmt.Errorf("find media: empty SourceContext")
	}
	sc := &scrubber{}
	c, err := u.vodClient(ctx, sc)
	if err != nil {
		return Result{}, false, err
	}
	for offset := uint64(0); offset < maxSearched; offset += searchPage {
		resp, err := u.searchPage(ctx, sc, c, subAppID, since, offset)
		if err != nil {
			return Result{}, false, err
		}
		for _, m := range resp.MediaInfoSet {
			if res, ok := matchSource(m, sourceContext); ok {
				if resp.RequestId != nil {
					res.RequestID = *resp.RequestId
				}
				return res, true, nil
			}
		}
		if len(resp.MediaInfoSet) < searchPage {
			break
		}
	}
	return Result{}, false, nil
}

func (u *Uploader) searchPage(ctx context.Context, sc *scrubber, c *vod.Client, subAppID uint64, since time.Time, offset uint64) (*vod.SearchMediaResponseParams, error) {
	in := vod.NewSearchMediaRequest()
	after := since.UTC().Format(time.RFC3339)
	in.CreateTime = &vod.TimeRange{After: &after}
	field, order := "CreateTime", "Asc"
	in.Sort = &vod.SortBy{Field: &field, Order: &order}
	limit := uint64(searchPage)
	in.Offset, in.Limit = &offset, &limit
	if subAppID != 0 {
		in.SubAppId = &subAppID
	}
	var out *vod.SearchMediaResponseParams
	err := u.cfg.Retry.do(ctx, u.log, "SearchMedia", func() error {
		actx, cancel := context.WithTimeout(ctx, u.cfg.APITimeout)
		defer cancel()
		resp, err := c.SearchMediaWithContext(actx, in)
		if err != nil {
			return sc.classify("SearchMedia", err)
		}
		out = resp.Response
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, &Error{Op: "SearchMedia", Code: "InvalidResponse", Message: "empty response"}
	}
	return out, nil
}

func matchSource(m *vod.MediaInfo, sourceContext string) (Result, bool) {
	if m == nil || m.BasicInfo == nil || m.BasicInfo.SourceInfo == nil || m.BasicInfo.SourceInfo.SourceContext == nil {
		return Result{}, false
	}
	if *m.BasicInfo.SourceInfo.SourceContext != sourceContext || m.FileId == nil {
		return Result{}, false
	}
	res := Result{FileID: *m.FileId}
	if m.BasicInfo.MediaUrl != nil {
		res.MediaURL = *m.BasicInfo.MediaUrl
	}
	if m.BasicInfo.CoverUrl != nil {
		res.CoverURL = *m.BasicInfo.CoverUrl
	}
	return res, true
}
