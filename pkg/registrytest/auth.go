package registrytest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
)

// BasicAuth returns a middleware for NewOlaregBehind that lets through
// only requests with HTTP basic credentials username:password, and
// answers the others 401 with a Basic challenge and a distribution-spec
// error body.
func BasicAuth(username, password string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); ok && equal(u, username) && equal(p, password) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			unauthorized(w, "basic credentials required")
		})
	}
}

// TokenPath is where the token service of BearerAuth answers, on the
// registry's own host.
const TokenPath = "/token"

// BearerAuthOptions configure BearerAuth. AccessToken is required; each
// other way to get it is enabled by setting its fields.
type BearerAuthOptions struct {
	// AccessToken is the only bearer token the registry accepts, and the
	// token the token service issues.
	AccessToken string
	// Username and Password are accepted by the token service as basic
	// credentials on GET (the distribution token flow) and as
	// grant_type=password on POST (OAuth2).
	Username, Password string
	// RefreshToken is accepted by the token service as
	// grant_type=refresh_token on POST (the docker config's
	// "identitytoken").
	RefreshToken string
}

// BearerAuth returns a middleware for NewOlaregBehind that implements the
// distribution token authentication flow: requests without
// "Authorization: Bearer <AccessToken>" get 401 with a challenge whose
// realm is TokenPath on the same host and scheme, and the token service there
// issues AccessToken for the configured credentials. It panics when
// o.AccessToken is empty.
// https://distribution.github.io/distribution/spec/auth/token/
func BearerAuth(o BearerAuthOptions) func(http.Handler) http.Handler {
	if o.AccessToken == "" {
		panic("registrytest.BearerAuth: an access token is required")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == TokenPath {
				serveToken(w, r, o)
				return
			}
			if equal(r.Header.Get("Authorization"), "Bearer "+o.AccessToken) {
				next.ServeHTTP(w, r)
				return
			}
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s://%s%s",service="registrytest"`, scheme, r.Host, TokenPath))
			unauthorized(w, "bearer token required")
		})
	}
}

func serveToken(w http.ResponseWriter, r *http.Request, o BearerAuthOptions) {
	ok := false
	switch r.Method {
	case http.MethodGet:
		u, p, basic := r.BasicAuth()
		ok = basic && o.Username != "" && equal(u, o.Username) && equal(p, o.Password)
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch r.PostForm.Get("grant_type") {
		case "refresh_token":
			ok = o.RefreshToken != "" && equal(r.PostForm.Get("refresh_token"), o.RefreshToken)
		case "password":
			ok = o.Username != "" && equal(r.PostForm.Get("username"), o.Username) && equal(r.PostForm.Get("password"), o.Password)
		}
	}
	if !ok {
		unauthorized(w, "invalid credentials")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": o.AccessToken, "access_token": o.AccessToken})
}

// unauthorized answers 401 with a distribution-spec error body.
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": msg}}})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
