package uploader

import (
	"context"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// DeleteMedia deletes a media (and everything VOD derived from it) by
// FileId in sub-application subAppID (0: primary). A cluster node uses it
// to remove a second commit of a job another node had committed first.
func (u *Uploader) DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error {
	in := vod.NewDeleteMediaRequest()
	in.FileId = &fileID
	if subAppID != 0 {
		in.SubAppId = &subAppID
	}
	sc := &scrubber{}
	return u.cfg.Retry.do(ctx, u.log, "DeleteMedia", func() error {
		c, err := u.vodClient(ctx, sc)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, u.cfg.APITimeout)
		defer cancel()
		_, err = c.DeleteMediaWithContext(actx, in)
		return sc.classify("DeleteMedia", err)
	})
}
