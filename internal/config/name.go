package config

import "fmt"

// ValidStreamName checks a stream name: 1 to 64 of A-Z a-z 0-9 _ - . and not
// starting with ".". Its error states the rule for the user, and is fit to
// send back with a 400. It does not allocate for a valid name.
func ValidStreamName(name string) error {
	if validName(name) {
		return nil
	}
	return nameError("stream name", name)
}

// validName reports whether s follows the rule of stream names, which node
// names follow too.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// nameError states the rule for what, quoting at most 64 bytes of name.
func nameError(what, name string) error {
	const rule = `use 1-64 of A-Z a-z 0-9 _ - . not starting with "."`
	if len(name) > 64 {
		return fmt.Errorf("%s %q... (%d bytes): %s", what, name[:64], len(name), rule)
	}
	return fmt.Errorf("%s %q: %s", what, name, rule)
}
