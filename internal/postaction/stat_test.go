package postaction

import "syscall"

type syscallStat struct{ dev uint64 }

func statDev(p string, s *syscallStat) bool {
	var st syscall.Stat_t
	if syscall.Stat(p, &st) != nil {
		return false
	}
	s.dev = uint64(st.Dev)
	return true
}
