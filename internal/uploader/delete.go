package uploader

import (
	"context"
	"errors"
	"fmt"
	"strings"

	vod "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vod/v20180717"
)

// DeleteMedia deletes the media fileID (in sub-application subAppID, 0:
// primary) with the service's DeleteMedia. A media the service no longer
// knows (ResourceNotFound, ResourceNotFound.FileNotExist) counts as
// deleted.
func (u *Uploader) DeleteMedia(ctx context.Context, subAppID uint64, fileID string) error {
	if fileID == "" {
		return errors.New("delete media: empty FileId")
	}
	sc := &scrubber{}
	c, err := u.vodClient(ctx, sc)
	if err != nil {
		return err
	}
	in := vod.NewDeleteMediaRequest()
	in.FileId = &fileID
	if subAppID != 0 {
		in.SubAppId = &subAppID
	}
	err = u.cfg.Retry.do(ctx, u.log, "DeleteMedia", func() error {
		_, err := c.DeleteMediaWithContext(ctx, in)
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
