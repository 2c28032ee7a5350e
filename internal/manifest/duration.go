package manifest

import (
	"fmt"
	"regexp"
	"strconv"
)

var isoDuration = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// unit seconds of each isoDuration group (years and months approximated).
var isoUnits = [...]float64{365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1}

// parseDuration parses an ISO 8601 duration such as "PT2.0S" or "P1DT2H" into
// seconds.
func parseDuration(s string) (float64, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s[len(s)-1] == 'T' {
		return 0, fmt.Errorf("bad ISO 8601 duration %q", s)
	}
	var total float64
	for i, g := range m[1:] {
		if g == "" {
			continue
		}
		v, err := strconv.ParseFloat(g, 64)
		if err != nil {
			return 0, fmt.Errorf("bad ISO 8601 duration %q", s)
		}
		total += v * isoUnits[i]
	}
	if total > 1e12 {
		return 0, fmt.Errorf("ISO 8601 duration %q is too long", s)
	}
	return total, nil
}
