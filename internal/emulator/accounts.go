package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Built-in settings of an account that does not name its own.
var (
	DefaultStorageRegions = []string{"ap-guangzhou", "ap-chongqing", "ap-beijing", "ap-shanghai", "ap-nanjing", "ap-chengdu"}
	DefaultProcedures     = []string{"news-transcode", "LongVideoPreset"}
	DefaultClassIDs       = []int64{0, 12}
	DefaultSubAppIDs      = []uint64{1500000001, 1500000002}
	// SystemProcedures are the preset task flows that every account has
	// besides its own; ApplyUpload also takes them in the documented
	// Name(parameters) form, e.g. QCVB_SimpleProcessFile(1, 1).
	SystemProcedures = []string{"QCVB_SimpleProcessFile", "QCVB_ProcessUGCFile"}
)

// AccountsFile is the YAML file given by Config.AccountsFile.
//
//	defaults:            # settings for the default account and for accounts that omit them
//	  storage_regions: [ap-guangzhou, ap-chongqing]   # the first is the default storage region
//	  procedures: [news-transcode]
//	  classes: [0, 12]
//	  sub_apps: [1500000001]
//	accounts:
//	  - secret_id: AKIDother
//	    secret_key: other-key
//	    app_id: 1250000001
//	    temporary:        # temporary credentials (SecretId + SecretKey + Token) of this account
//	      - {secret_id: AKIDtmp, secret_key: tmp-key, token: tok, expires: 2030-01-01T00:00:00Z}
//	faults: {seed: 1, error_rate: {UploadPart: 0.1}, throttle: {ApplyUpload: 2}}
type AccountsFile struct {
	Defaults AccountSpec   `yaml:"defaults"`
	Accounts []AccountSpec `yaml:"accounts"`
	Faults   FaultConfig   `yaml:"faults"`
}

// AccountSpec is one account in the accounts file.
type AccountSpec struct {
	SecretID       string          `yaml:"secret_id"`
	SecretKey      string          `yaml:"secret_key"`
	AppID          uint64          `yaml:"app_id"`
	SubApps        []uint64        `yaml:"sub_apps"`
	StorageRegions []string        `yaml:"storage_regions"`
	Procedures     []string        `yaml:"procedures"`
	Classes        []int64         `yaml:"classes"`
	Temporary      []TemporarySpec `yaml:"temporary"`
}

// TemporarySpec is a temporary API credential of an account.
type TemporarySpec struct {
	SecretID  string    `yaml:"secret_id"`
	SecretKey string    `yaml:"secret_key"`
	Token     string    `yaml:"token"`
	Expires   time.Time `yaml:"expires"`
}

// account is what an API caller may do.
type account struct {
	SecretID, SecretKey string
	AppID               uint64
	subApps             map[uint64]bool
	regions             map[string]bool
	defaultRegion       string
	procedures          map[string]bool
	classes             map[int64]bool
}

// credential is a key that signs API requests for an account.
type credential struct {
	secretKey string
	token     string // non-empty for temporary credentials
	expires   time.Time
	acct      *account
}

type accounts struct {
	def   *account
	creds map[string]credential
}

func loadAccountsFile(path string) (AccountsFile, error) {
	var f AccountsFile
	if path == "" {
		return f, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return f, fmt.Errorf("emulator: accounts file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("emulator: accounts file %s: %w", path, err)
	}
	return f, nil
}

func newAccounts(cfg Config, file AccountsFile) (*accounts, error) {
	as := &accounts{creds: map[string]credential{}}
	def := file.Defaults
	def.SecretID, def.SecretKey, def.AppID = cfg.SecretID, cfg.SecretKey, cfg.AppID
	if def.SecretID == "" {
		def.SecretID = "AKID" + randomString(32, alnum)
	}
	if def.SecretKey == "" {
		def.SecretKey = randomString(32, alnum)
	}
	acct, err := as.add(def, file.Defaults, cfg.AppID, "default account")
	if err != nil {
		return nil, err
	}
	as.def = acct
	for i, spec := range file.Accounts {
		if _, err := as.add(spec, file.Defaults, cfg.AppID, fmt.Sprintf("%s: accounts[%d]", cfg.AccountsFile, i)); err != nil {
			return nil, err
		}
	}
	return as, nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)+$`)

func (as *accounts) add(spec, defaults AccountSpec, appID uint64, where string) (*account, error) {
	if spec.SecretID == "" || spec.SecretKey == "" {
		return nil, fmt.Errorf("emulator: %s: secret_id and secret_key are required", where)
	}
	if spec.AppID == 0 {
		spec.AppID = appID
	}
	a := &account{
		SecretID: spec.SecretID, SecretKey: spec.SecretKey, AppID: spec.AppID,
		subApps:    setOf(pick(spec.SubApps, defaults.SubApps, DefaultSubAppIDs)),
		procedures: setOf(pick(spec.Procedures, defaults.Procedures, DefaultProcedures)),
		classes:    setOf(pick(spec.Classes, defaults.Classes, DefaultClassIDs)),
	}
	regions := pick(spec.StorageRegions, defaults.StorageRegions, DefaultStorageRegions)
	for _, r := range regions {
		if !regionRE.MatchString(r) {
			return nil, fmt.Errorf("emulator: %s: storage region %q is not a region name like ap-guangzhou", where, r)
		}
	}
	a.regions, a.defaultRegion = setOf(regions), regions[0]
	if err := as.addCred(spec.SecretID, credential{secretKey: spec.SecretKey, acct: a}, where); err != nil {
		return nil, err
	}
	for i, t := range spec.Temporary {
		w := fmt.Sprintf("%s.temporary[%d]", where, i)
		if t.SecretID == "" || t.SecretKey == "" || t.Token == "" || t.Expires.IsZero() {
			return nil, fmt.Errorf("emulator: %s: secret_id, secret_key, token and expires are required", w)
		}
		if err := as.addCred(t.SecretID, credential{secretKey: t.SecretKey, token: t.Token, expires: t.Expires, acct: a}, w); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// hasProcedure: the account's own task flows by name, and the system
// presets by name or as Name(parameters) with parameters of digits,
// commas, spaces and braces.
func (a *account) hasProcedure(name string) bool {
	if a.procedures[name] {
		return true
	}
	base, params, call := strings.Cut(name, "(")
	if call {
		if !strings.HasSuffix(params, ")") || strings.Trim(params[:len(params)-1], "0123456789, {}") != "" {
			return false
		}
	}
	return slices.Contains(SystemProcedures, base)
}

func (as *accounts) addCred(id string, c credential, where string) error {
	if _, dup := as.creds[id]; dup {
		return fmt.Errorf("emulator: %s: secret_id %q is used twice", where, id)
	}
	as.creds[id] = c
	return nil
}

func (as *accounts) lookup(secretID string) (credential, bool) {
	c, ok := as.creds[secretID]
	return c, ok
}

func pick[T any](own, defaults, builtin []T) []T {
	if len(own) > 0 {
		return own
	}
	if len(defaults) > 0 {
		return defaults
	}
	return builtin
}

func setOf[T comparable](xs []T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
