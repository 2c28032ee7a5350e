package cos

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/vodwatchd/vodwatchd/internal/emulator/cossign"
)

// authenticate checks the q-sign signature, the security token and that the
// grant covers the request's bucket, region and key.
func (s *Server) authenticate(rq *request) error {
	r := rq.r
	raw := r.Header.Get("Authorization")
	if raw == "" {
		if s.unsign && (rq.op == "PutObject" || rq.op == "UploadPart") {
			return nil
		}
		return errAccessDenied("Request has no Authorization header.")
	}
	a, err := cossign.ParseAuthorization(raw)
	if err != nil {
		return errAccessDenied("Authorization header is malformed: %v", err)
	}
	g, ok := s.auth.Grant(a.SecretID)
	if !ok {
		return cosErr(http.StatusForbidden, "InvalidAccessKeyId", "The access key Id you provided does not exist.")
	}
	if err := cossign.Verify(r, a, g.SecretKey); err != nil {
		return cosErr(http.StatusForbidden, "SignatureDoesNotMatch",
			"The Signature you specified does not match what we calculated.")
	}
	if err := checkSignTime(a, s.now()); err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("x-cos-security-token")), []byte(g.Token)) != 1 {
		return errAccessDenied("The x-cos-security-token does not match the temporary credential.")
	}
	if !s.now().Before(g.Expires) {
		return errAccessDenied("The temporary credential has expired.")
	}
	if g.Bucket != rq.bucket || (g.Region != "" && g.Region != rq.region) {
		return errAccessDenied("The credential does not grant access to bucket %s in %s.", rq.bucket, rq.region)
	}
	if rq.key != "" && !keyAllowed(g.Prefixes, rq.key) {
		return errAccessDenied("The credential does not grant access to key %q.", rq.key)
	}
	rq.grant = g
	return nil
}

func checkSignTime(a cossign.Auth, now time.Time) error {
	err := cossign.CheckTime(a, now, signSkew)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cossign.ErrExpired):
		return errAccessDenied("Request has expired.")
	case errors.Is(err, cossign.ErrNotYetValid):
		return cosErr(http.StatusForbidden, "RequestTimeTooSkewed",
			"The difference between the request time and the server's time is too large.")
	default:
		return errAccessDenied("Authorization time is malformed: %v", err)
	}
}

// keyAllowed reports whether key falls under one of the granted prefixes.
func keyAllowed(prefixes []string, key string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, strings.TrimPrefix(p, "/")) {
			return true
		}
	}
	return false
}
