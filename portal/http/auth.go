package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/simcore/simcore/portal"
)

// Cookie names. The session cookie is HttpOnly; the CSRF cookie is not, so
// a browser app can read it and echo it in X-CSRF-Token.
const (
	SessionCookie = "simcore_session"
	CSRFCookie    = "simcore_csrf"
	CSRFHeader    = "X-CSRF-Token"
	// DeviceCookie marks a browser its user has logged in from; only the
	// login reads it (portal.Accounts.Login).
	DeviceCookie = "simcore_device"
)

// caller is who is asking.
type caller struct {
	user      portal.User
	session   portal.Session
	viaCookie bool
}

// authenticate finds the caller's session: from Authorization: Bearer, or
// else the session cookie. A cookie-authenticated unsafe request must carry
// the CSRF token bound to the session (X-CSRF-Token): a cross-site form or
// script can make the browser send the cookie, but cannot read the token.
// Bearer requests need no CSRF token: browsers never add the header on
// their own.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	var (
		token     string
		viaCookie bool
	)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, portal.ErrUnauthenticated
		}
		token = strings.TrimSpace(t)
	} else if c, err := r.Cookie(SessionCookie); err == nil {
		token, viaCookie = c.Value, true
	} else {
		return nil, portal.ErrUnauthenticated
	}
	sess, u, err := s.cfg.Accounts.Authenticate(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if viaCookie && !safeMethod(r.Method) && !sess.CheckCSRF(r.Header.Get(CSRFHeader)) {
		return nil, portal.ErrCSRF
	}
	noteUser(r.Context(), u.ID)
	return &caller{user: u, session: sess, viaCookie: viaCookie}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// setSessionCookies hands a browser the session and its CSRF token.
func (s *Server) setSessionCookies(w http.ResponseWriter, g portal.Grant) {
	secure := !s.cfg.InsecureCookies
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: g.Token, Path: "/v1", Expires: g.ExpiresAt,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: g.CSRFToken, Path: "/", Expires: g.ExpiresAt,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}

// setDeviceCookie hands a browser its device token. It outlives logout:
// it is no credential, only the login's memory of the browser.
func (s *Server) setDeviceCookie(w http.ResponseWriter, g portal.Grant) {
	http.SetCookie(w, &http.Cookie{Name: DeviceCookie, Value: g.DeviceToken, Path: "/v1/auth/login", Expires: g.DeviceExpiresAt,
		HttpOnly: true, Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
}

// clearSessionCookies removes both cookies.
func (s *Server) clearSessionCookies(w http.ResponseWriter) {
	secure := !s.cfg.InsecureCookies
	past := time.Unix(0, 0)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/v1", Expires: past, MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", Expires: past, MaxAge: -1,
		Secure: secure, SameSite: http.SameSiteLaxMode})
}
