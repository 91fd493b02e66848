package http

import (
	"net/http"
	"time"

	"github.com/simcore/simcore/portal"
)

type registerBody struct {
	Email         string `json:"email"`
	Password      string `json:"password"`
	Name          string `json:"name"`
	Language      string `json:"language"`
	AcceptedTerms bool   `json:"accepted_terms"`
}

func (s *Server) registerUser(w http.ResponseWriter, r *http.Request) error {
	var b registerBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	u, err := s.cfg.Accounts.Register(r.Context(), portal.Registration{
		Email: b.Email, Password: b.Password, Name: b.Name, Language: b.Language, AcceptedTerms: b.AcceptedTerms,
	}, s.cfg.TrustedProxies.ClientAddr(r))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/me")
	writeJSON(w, http.StatusCreated, u)
	return nil
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// DeviceToken is for clients without cookies; browsers send the
	// device cookie.
	DeviceToken string `json:"device_token"`
}

type loginResponse struct {
	portal.Grant
	User portal.User `json:"user"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var b loginBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	device := b.DeviceToken
	if c, err := r.Cookie(DeviceCookie); device == "" && err == nil {
		device = c.Value
	}
	u, g, err := s.cfg.Accounts.Login(r.Context(), b.Email, b.Password, s.cfg.TrustedProxies.ClientAddr(r), device)
	if err != nil {
		return err
	}
	noteUser(r.Context(), u.ID)
	s.setSessionCookies(w, g)
	if g.DeviceToken != "" {
		s.setDeviceCookie(w, g)
	}
	writeJSON(w, http.StatusOK, loginResponse{Grant: g, User: u})
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, me *caller) error {
	if err := s.cfg.Accounts.Logout(r.Context(), me.session); err != nil {
		return err
	}
	s.clearSessionCookies(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type emailBody struct {
	Email string `json:"email"`
}

// accepted is the body of 202 answers that start something by email.
type accepted struct {
	Status string `json:"status"`
}

func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) error {
	var b emailBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ForgotPassword(r.Context(), b.Email, s.cfg.TrustedProxies.ClientAddr(r)); err != nil {
		return err
	}
	// The same answer whether or not the address is registered.
	writeJSON(w, http.StatusAccepted, accepted{Status: "if the address is registered, a reset code is on its way"})
	return nil
}

type resetBody struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var b resetBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ResetPassword(r.Context(), b.Token, b.Password, s.cfg.TrustedProxies.ClientAddr(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type tokenBody struct {
	Token string `json:"token"`
}

func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	var b tokenBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	u, err := s.cfg.Accounts.VerifyEmail(r.Context(), b.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// meResponse is the caller's account and when the session ends.
type meResponse struct {
	portal.User
	SessionExpiresAt time.Time `json:"session_expires_at"`
}

func (s *Server) getMe(w http.ResponseWriter, _ *http.Request, me *caller) error {
	writeJSON(w, http.StatusOK, meResponse{User: me.user, SessionExpiresAt: me.session.ExpiresAt})
	return nil
}

type profileBody struct {
	Name     *string `json:"name"`
	Language *string `json:"language"`
}

func (s *Server) patchMe(w http.ResponseWriter, r *http.Request, me *caller) error {
	var b profileBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	u, err := s.cfg.Accounts.UpdateProfile(r.Context(), me.user.ID, portal.ProfileChange{Name: b.Name, Language: b.Language})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, meResponse{User: u, SessionExpiresAt: me.session.ExpiresAt})
	return nil
}

type passwordBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, me *caller) error {
	var b passwordBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if err := s.cfg.Accounts.ChangePassword(r.Context(), me.session, b.CurrentPassword, b.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) changeEmail(w http.ResponseWriter, r *http.Request, me *caller) error {
	var b emailBody
	if err := decodeJSON(w, r, s.cfg.MaxBody, &b); err != nil {
		return err
	}
	if err := s.cfg.Accounts.RequestEmailChange(r.Context(), me.user.ID, b.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, accepted{Status: "a verification code is on its way to the new address; the change applies when it is confirmed"})
	return nil
}
