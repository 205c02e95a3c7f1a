// Package auth checks gusu's access tokens. Reading is public by default;
// uploads, layer creation and restores need an editor token, private
// layers a viewer token, approving proposed versions a reviewer token. Tokens
// carry a role (viewer < editor < reviewer < admin), are
// created and revoked with `gusu token`, and are stored hashed.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gusu-gis/gusu/data/httpapi"
)

// Role orders what a token may do.
type Role int

// Roles, each allowing what the ones before it allow.
const (
	Viewer Role = iota + 1
	Editor
	Reviewer
	Admin
)

func (r Role) String() string {
	switch r {
	case Viewer:
		return "viewer"
	case Editor:
		return "editor"
	case Reviewer:
		return "reviewer"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole parses "viewer", "editor", "reviewer" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return Viewer, nil
	case "editor":
		return Editor, nil
	case "reviewer":
		return Reviewer, nil
	case "admin":
		return Admin, nil
	}
	return 0, fmt.Errorf("unknown role %q, known: viewer, editor, reviewer, admin", s)
}

// Token is an authenticated caller.
type Token struct {
	ID   int64
	Name string
	Role Role
}

const prefix = "gusu_"

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Create makes a token and returns it in clear; only its hash is stored.
func Create(ctx context.Context, pool *pgxpool.Pool, name string, role Role) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("a token needs a name (who or what it is for)")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	token := prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	if _, err := pool.Exec(ctx, "INSERT INTO gusu_tokens (name, role, token_hash) VALUES ($1, $2, $3)", name, role.String(), hash(token)); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return token, nil
}

// Revoke revokes every active token with the given name and returns how many.
func Revoke(ctx context.Context, pool *pgxpool.Pool, name string) (int64, error) {
	tag, err := pool.Exec(ctx, "UPDATE gusu_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL", name)
	if err != nil {
		return 0, fmt.Errorf("revoke token %q: %w", name, err)
	}
	return tag.RowsAffected(), nil
}

// cacheFor bounds how long a revoked token may still be accepted by an
// instance that checked it just before: lookups happen per tile of a
// private layer, and the database need not answer each one.
const cacheFor = 10 * time.Second

// Authenticator resolves request tokens.
type Authenticator struct {
	pool  *pgxpool.Pool
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	tok     *Token
	expires time.Time
}

// NewAuthenticator returns an Authenticator over pool.
func NewAuthenticator(pool *pgxpool.Pool) *Authenticator {
	return &Authenticator{pool: pool, cache: map[string]cached{}}
}

// FromRequest reads the token of a request: "Authorization: Bearer …", or
// ?token= for embedded maps (an iframe cannot set headers).
func FromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" is fine.
		if scheme, t, ok := strings.Cut(strings.TrimSpace(h), " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(t)
		}
		return h // malformed: let lookup fail with 401
	}
	return r.URL.Query().Get("token")
}

// errInvalid marks a token that is unknown or revoked.
var errInvalid = errors.New("invalid or revoked token")

func (a *Authenticator) lookup(ctx context.Context, token string) (*Token, error) {
	a.mu.Lock()
	if c, ok := a.cache[token]; ok && time.Now().Before(c.expires) {
		a.mu.Unlock()
		if c.tok == nil {
			return nil, errInvalid
		}
		return c.tok, nil
	}
	a.mu.Unlock()
	t := &Token{}
	var role string
	err := a.pool.QueryRow(ctx, "SELECT id, name, role FROM gusu_tokens WHERE token_hash = $1 AND revoked_at IS NULL", hash(token)).Scan(&t.ID, &t.Name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		t = nil
	} else if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	} else if t.Role, err = ParseRole(role); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		a.cache = map[string]cached{}
	}
	a.cache[token] = cached{tok: t, expires: time.Now().Add(cacheFor)}
	a.mu.Unlock()
	if t == nil {
		return nil, errInvalid
	}
	return t, nil
}

// CanSeePrivate reports whether r may see private layers: it carries a
// viewer token, or no authenticator is configured (a nil a).
func (a *Authenticator) CanSeePrivate(r *http.Request) bool {
	if a == nil {
		return true
	}
	_, err := a.Require(r, Viewer)
	return err == nil
}

// RequireForLayer is the check every route serving a layer makes: a private
// layer needs a viewer token (401/403 otherwise); a public one, or a nil a,
// needs nothing.
func (a *Authenticator) RequireForLayer(r *http.Request, private bool) error {
	if !private || a == nil {
		return nil
	}
	_, err := a.Require(r, Viewer)
	return err
}

// Require returns the request's token if it has at least role; otherwise a
// 401 (no or invalid token) or 403 (role too low) error for httpapi.
func (a *Authenticator) Require(r *http.Request, role Role) (*Token, error) {
	raw := FromRequest(r)
	if raw == "" {
		return nil, &httpapi.Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf("this needs a token with role %s or higher: send Authorization: Bearer <token>", role)}
	}
	t, err := a.lookup(r.Context(), raw)
	if errors.Is(err, errInvalid) {
		return nil, &httpapi.Error{Status: http.StatusUnauthorized, Message: "the token is unknown or has been revoked"}
	}
	if err != nil {
		return nil, err
	}
	if t.Role < role {
		return nil, &httpapi.Error{Status: http.StatusForbidden, Message: fmt.Sprintf("token %q has role %s; this needs %s or higher", t.Name, t.Role, role), Detail: map[string]any{"role": t.Role.String(), "required": role.String()}}
	}
	return t, nil
}
