package guard

import (
	"log/slog"
	"sync"
	"time"
)

// Refusals are logged once per source and kind within logEvery, and at
// most logSources distinct sources are remembered: past that (a flood of
// spoofed sources, say) one summary line a minute says how many went
// unlogged.
const (
	logEvery   = time.Hour
	logSources = 4096
	logSummary = time.Minute
)

type logLimiter struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	seen       map[string]time.Time // kind+source → when logged
	unlogged   int64
	summaryAt  time.Time
	lastPurged time.Time
}

func (l *logLimiter) init(log *slog.Logger, now func() time.Time) {
	l.log, l.now, l.seen = log, now, make(map[string]time.Time)
}

// warn logs msg once per key within logEvery.
func (l *logLimiter) warn(key, msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	if at, ok := l.seen[key]; ok && now.Sub(at) < logEvery {
		l.mu.Unlock()
		return
	}
	if len(l.seen) >= logSources {
		l.purge(now)
	}
	if len(l.seen) >= logSources {
		l.unlogged++
		if now.Sub(l.summaryAt) < logSummary {
			l.mu.Unlock()
			return
		}
		n := l.unlogged
		l.unlogged, l.summaryAt = 0, now
		l.mu.Unlock()
		l.log.Warn("refusing many sources; not logging each", "unlogged", n, "sources_remembered", logSources)
		return
	}
	l.seen[key] = now
	l.mu.Unlock()
	l.log.Warn(msg, args...)
}

// purge forgets entries older than logEvery, at most once a minute.
func (l *logLimiter) purge(now time.Time) {
	if now.Sub(l.lastPurged) < logSummary {
		return
	}
	l.lastPurged = now
	for k, at := range l.seen {
		if now.Sub(at) >= logEvery {
			delete(l.seen, k)
		}
	}
}
