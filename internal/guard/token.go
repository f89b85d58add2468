package guard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A play token is
//
//	EXPIRY "." SIG            (any client address)
//	EXPIRY "." IP "." SIG     (only from IP)
//
// where EXPIRY is Unix seconds in decimal, IP is the client address in its
// usual text form (IPv6 with ":" is fine in a query once escaped), and SIG
// is the unpadded base64url of HMAC-SHA256(secret, "tsstream-play\n" +
// stream + "\n" + EXPIRY + "\n" + IP), IP empty for an unbound token. The
// stream is in the signature, not in the token: a token for one stream
// does not open another.

// Token errors; Verify wraps them with the reason.
var (
	ErrTokenMissing = errors.New("play token missing")
	ErrTokenInvalid = errors.New("play token invalid")
	ErrTokenExpired = errors.New("play token expired")
)

// MinSecretLen is the shortest token secret accepted.
const MinSecretLen = 16

// SignToken returns a token for stream that expires at exp, bound to ip
// unless ip is the zero Addr.
func SignToken(secret []byte, stream string, exp time.Time, ip netip.Addr) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	ipText := ""
	if ip.IsValid() {
		ipText = ip.Unmap().String()
	}
	sig := base64.RawURLEncoding.EncodeToString(tokenMAC(secret, stream, e, ipText))
	if ipText == "" {
		return e + "." + sig
	}
	return e + "." + ipText + "." + sig
}

func tokenMAC(secret []byte, stream, exp, ip string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("tsstream-play\n" + stream + "\n" + exp + "\n" + ip))
	return m.Sum(nil)
}

// VerifyToken checks token for stream, played from client at now.
func VerifyToken(secret []byte, token, stream string, client netip.Addr, now time.Time) error {
	if token == "" {
		return ErrTokenMissing
	}
	if len(token) > 256 {
		return ErrTokenInvalid
	}
	exp, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ErrTokenInvalid
	}
	ip, sig := "", rest
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		ip, sig = rest[:i], rest[i+1:]
	}
	// Strict refuses stray trailing bits; line breaks it skips. A token
	// has exactly one spelling.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || strings.ContainsAny(sig, "\r\n") || !hmac.Equal(got, tokenMAC(secret, stream, exp, ip)) {
		return ErrTokenInvalid
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return ErrTokenInvalid
	}
	if now.Unix() >= secs {
		return ErrTokenExpired
	}
	if ip != "" {
		want, err := netip.ParseAddr(ip)
		if err != nil || want.Unmap() != client.Unmap() {
			return ErrTokenInvalid
		}
	}
	return nil
}
