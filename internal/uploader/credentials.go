package uploader

import (
	"context"
	"errors"
	"fmt"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// Credential is an API key pair, with a token for temporary credentials.
type Credential struct {
	SecretID, SecretKey, Token string
}

// String hides the secret parts.
func (c Credential) String() string { return "Credential{" + c.SecretID + ", ***}" }

// Credentials provides the API credential; it is asked again for every
// ApplyUpload, so rotated credentials are picked up without a restart.
type Credentials interface {
	Credential(ctx context.Context) (Credential, error)
}

// StaticCredentials returns fixed credentials (token may be empty).
func StaticCredentials(secretID, secretKey, token string) Credentials {
	return staticCreds{Credential{secretID, secretKey, token}}
}

type staticCreds struct{ c Credential }

func (s staticCreds) Credential(context.Context) (Credential, error) {
	if s.c.SecretID == "" || s.c.SecretKey == "" {
		return Credential{}, errors.New("credentials: SecretId and SecretKey are required")
	}
	return s.c, nil
}

// ProviderCredentials adapts a tencentcloud common.Provider (environment,
// profile file, CVM role, role ARN or a chain of them).
func ProviderCredentials(p common.Provider) Credentials { return providerCreds{p} }

// DefaultCredentials is the SDK's default chain: the environment variables
// TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY, the profile file
// (~/.tencentcloud/credentials), then the CVM instance role.
func DefaultCredentials() Credentials { return providerCreds{common.DefaultProviderChain()} }

type providerCreds struct{ p common.Provider }

func (p providerCreds) Credential(context.Context) (Credential, error) {
	c, err := p.p.GetCredential()
	if err != nil {
		return Credential{}, fmt.Errorf("credentials: %w", err)
	}
	id, key, token := c.GetCredential()
	return Credential{id, key, token}, nil
}
