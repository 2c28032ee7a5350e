package uploader

import (
	"context"
	"errors"
	"fmt"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// DeleteMedia deletes a media (and everything VOD derived from it) by
// FileId in sub-application subAppID (0: primary). A cluster node uses it
// to remove a second commit of a job another node had committed first;
// on_change: replace to remove the earlier version's media. A media the
// service no longer knows (ResourceNotFound, ResourceNotFound.FileNotExist)
// counts as deleted.
func (u *Uploader) DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error {
	if fileID == "" {
		return errors.New("delete media: empty FileId")
	}
	in := vod.NewDeleteMediaRequest()
	in.FileId = &fileID
	if subAppID != 0 {
		in.SubAppId = &subAppID
	}
	sc := &scrubber{}
	err := u.cfg.Retry.do(ctx, u.log, "DeleteMedia", func() error {
		c, err := u.vodClient(ctx, sc)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, u.cfg.APITimeout)
		defer cancel()
		_, err = c.DeleteMediaWithContext(actx, in)
		return sc.classify("DeleteMedia", err)
	})
	var e *Error
	if errors.As(err, &e) && strings.HasPrefix(e.Code, "ResourceNotFound") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete media %s: %w", fileID, err)
	}
	return nil
}
