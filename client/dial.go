// SPDX-License-Identifier: Apache-2.0

package client

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"gitlab.com/tacet/tacet/netstack"
)

// DefaultWindow is the credit a Stream grants a subscription: the most
// output bytes it holds unread.
const DefaultWindow = 1 << 20

// KeyFileEnv names the environment variable that points at a key file
// when no key option is given.
const KeyFileEnv = "TACET_KEY_FILE"

// config is what the options set; Dial validates it once.
type config struct {
	key      *netstack.Key
	keyFile  string
	who      string
	frameMAC bool
	tls      *netstack.TLSConfig
	timeout  time.Duration
	window   int

	// dialConn, set by WithDialer, replaces the transport: the handshake
	// runs on the net.Conn it returns.
	dialConn func(ctx context.Context) (net.Conn, error)
}

// Option configures Dial.
type Option func(*config)

// WithKey sets the pre-shared key to prove.
func WithKey(k *netstack.Key) Option { return func(c *config) { c.key = k } }

// WithKeyFile loads the key from path, written by netstack.Key.WriteFile
// or `tacet keygen`.
func WithKeyFile(path string) Option { return func(c *config) { c.keyFile = path } }

// WithWho names the controller in the daemon's logs.
func WithWho(who string) Option { return func(c *config) { c.who = who } }

// WithFrameMAC asks for an HMAC on every frame after the handshake, on
// plain TCP; the daemon grants it only if it is configured to.
func WithFrameMAC(on bool) Option { return func(c *config) { c.frameMAC = on } }

// WithTLS sets how a tls:// daemon is verified (a CA file or a pin of its
// key) and the optional client certificate.
func WithTLS(t *netstack.TLSConfig) Option { return func(c *config) { c.tls = t } }

// WithTimeout bounds the connect and the handshake; 0 means the
// handshake's default of 5 s. Calls are bounded by their contexts.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithDialer makes Dial run the handshake on the connection fn returns
// instead of dialling the address itself, which then only names the
// daemon: for a stream that reaches it some other way, such as through
// ssh -W. The handshake is the same as on tcp://.
func WithDialer(fn func(ctx context.Context) (net.Conn, error)) Option {
	return func(c *config) { c.dialConn = fn }
}

// WithWindow sets the credit window of the Streams of the Client, in
// bytes; 0 means DefaultWindow.
func WithWindow(n int) Option { return func(c *config) { c.window = n } }

// Dial connects to the daemon at addr and runs the handshake. addr is
// anything netstack.ParseAddr reads ("host", "host:port", "tcp://...",
// "kcp://...", "unix:///path"); "" means the local daemon's Unix socket,
// netstack.DefaultSocketPath.
//
// Without WithKey or WithKeyFile the key is loaded from $TACET_KEY_FILE,
// else from netstack.DefaultKeyPath if that file exists. With no key at
// all Dial still tries a Unix socket, where a daemon without a key
// accepts its own user and root.
//
// Errors are *DialError; a refusal by the daemon wraps an *Error.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if addr == "" {
		addr = "unix://" + netstack.DefaultSocketPath()
	}
	a, err := netstack.ParseAddr(addr, 0)
	if err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	name := a.Host
	if a.Scheme == netstack.SchemeUnix {
		name = a.Path
	}

	key, err := cfg.loadKey()
	if err != nil {
		return nil, &DialError{Addr: name, Err: err}
	}
	if key == nil && a.Scheme != netstack.SchemeUnix && cfg.dialConn == nil {
		return nil, &DialError{Addr: name, Err: errNoKey()}
	}

	conn, err := cfg.dial(ctx, a, key)
	if err != nil {
		return nil, &DialError{Addr: name, Err: dialCause(err)}
	}
	window := cfg.window
	if window <= 0 {
		window = DefaultWindow
	}
	return newClient(conn, name, window), nil
}

// LoadKey returns the key Dial would use with opts: the one they name,
// the one $TACET_KEY_FILE names, the one at the default path, or nil
// when there is none. A caller that hands the key on, such as a chain
// put, needs it itself.
func LoadKey(opts ...Option) (*netstack.Key, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return cfg.loadKey()
}

// loadKey returns the key the options name, the one $TACET_KEY_FILE
// names, the one at the default path, or nil when there is none.
func (cfg *config) loadKey() (*netstack.Key, error) {
	if cfg.key != nil {
		return cfg.key, nil
	}
	if cfg.keyFile != "" {
		return netstack.LoadKey(cfg.keyFile)
	}
	if path := os.Getenv(KeyFileEnv); path != "" {
		return netstack.LoadKey(path)
	}
	path := netstack.DefaultKeyPath()
	if path == "" {
		return nil, nil
	}
	k, err := netstack.LoadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return k, err
}

func errNoKey() error {
	where := netstack.DefaultKeyPath()
	if where == "" {
		where = "the default key path"
	}
	return fmt.Errorf("no key: give a key file, set $%s, or create %s with `tacet keygen`", KeyFileEnv, where)
}

func (cfg *config) dial(ctx context.Context, a netstack.Addr, key *netstack.Key) (*netstack.Conn, error) {
	ncfg := &netstack.ClientConfig{Key: key, Who: cfg.who, FrameMAC: cfg.frameMAC, Timeout: cfg.timeout, TLS: cfg.tls}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	if cfg.dialConn == nil {
		return netstack.Dial(ctx, a.String(), ncfg)
	}
	nc, err := cfg.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	return netstack.ClientHandshake(nc, ncfg)
}

// dialCause turns the daemon's refusal of the handshake into an *Error,
// so that errors.Is(err, ErrUnauthenticated) works on it.
func dialCause(err error) error {
	var he *netstack.HandshakeError
	if errors.As(err, &he) && (he.Refused || he.Err == nil) {
		e := sentinel(he.Code)
		// The DialError around it names the daemon already.
		e.Message = he.Reason
		return e
	}
	return err
}
