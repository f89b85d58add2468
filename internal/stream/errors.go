package stream

import (
	"errors"
	"fmt"
	"time"
)

// PublisherActiveError is returned by Publish when the stream already has a
// live publisher and does not allow takeover. It matches ErrPublisherActive.
type PublisherActiveError struct {
	Stream  string
	Current PublisherInfo
	Since   time.Time
}

func (e *PublisherActiveError) Error() string {
	return fmt.Sprintf("stream %q already has a publisher (%s %s since %s); stop it first or set takeover: true for this stream",
		e.Stream, e.Current.Protocol, e.Current.Remote, e.Since.UTC().Format(time.RFC3339))
}

func (e *PublisherActiveError) Is(target error) bool { return target == ErrPublisherActive }

// ErrBadName matches the errors returned for a stream name that is not
// allowed.
var ErrBadName = errors.New("bad stream name")

// NameError is a stream name refused by the hub's ValidName check; its text
// states the rule.
type NameError struct{ Err error }

func (e *NameError) Error() string        { return e.Err.Error() }
func (e *NameError) Unwrap() error        { return e.Err }
func (e *NameError) Is(target error) bool { return target == ErrBadName }
