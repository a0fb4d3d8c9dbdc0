package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// DataDir holds the JetStream store (DataDir/nats/jetstream) and the
	// lock file DataDir/nats.lock that keeps a second process out. Required.
	DataDir string
	// Listen is the client address, HOST:PORT (127.0.0.1:4222); port -1
	// picks a free one.
	Listen string
	// MaxPayload bounds one message (20 MiB: a report may be 16 MiB).
	MaxPayload int32
	// SyncAlways fsyncs the store before acknowledging each write. Off by
	// default: the server then fsyncs every 2 minutes, and a machine crash
	// (not a process crash) may lose the last writes.
	SyncAlways bool
	// ConfigText, if set, is nats-server configuration (for example a
	// cluster block); Listen and MaxPayload then come from it, and its
	// store_dir defaults to DataDir/nats.
	ConfigText string
	// AuthDir holds the NKey seed files of the roles (AuthDir/nats-auth,
	// created on first start; default DataDir). The servers of one
	// embedded cluster share it, so that a client's credentials hold on
	// every node.
	AuthDir string
	// Policy gives each role's permissions (queue.RolePermissions).
	// Required, unless ConfigText sets up an authentication of its own.
	Policy Policy
	// Logger receives the server's log lines (slog.Default()).
	Logger *slog.Logger
}

// Server is an embedded nats-server with JetStream. It requires
// authentication: one NKey user per Role with that role's permissions
// (ServerConfig.Policy), whose seeds it creates under AuthDir on first start
// (NKeyFile). No client connects without one of them.
type Server struct {
	ns      *server.Server
	lock    *os.File
	authDir string
}

// ErrDataDirInUse is returned by StartServer when another process (or
// another Server in this one) has the data directory.
var ErrDataDirInUse = errors.New("broker: data directory is in use by another folio process")

// StartServer starts nats-server in this process with JetStream on disk
// under cfg.DataDir and waits until it accepts connections with JetStream
// enabled. It refuses a data directory that another process holds.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("broker: embedded server: no data directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("broker: embedded server: %w", err)
	}
	lockPath := filepath.Join(cfg.DataDir, "nats.lock")
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("broker: embedded server: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		holder := ""
		if b, rerr := os.ReadFile(lockPath); rerr == nil && len(b) > 0 {
			holder = " (" + strings.TrimSpace(string(b)) + ")"
		}
		return nil, fmt.Errorf("%w: %s is locked%s; stop that process or use another --data directory", ErrDataDirInUse, lockPath, holder)
	}
	lock.Truncate(0)
	fmt.Fprintf(lock, "pid %d", os.Getpid())

	opts := &server.Options{}
	if cfg.ConfigText != "" {
		if err := opts.ProcessConfigString(cfg.ConfigText); err != nil {
			unlock(lock)
			return nil, fmt.Errorf("broker: embedded server config: %w", err)
		}
	} else {
		host, port, err := splitListen(cfg.Listen)
		if err != nil {
			unlock(lock)
			return nil, err
		}
		opts.Host, opts.Port = host, port
		opts.MaxPayload = cfg.MaxPayload
		if opts.MaxPayload == 0 {
			opts.MaxPayload = 20 << 20
		}
	}
	opts.JetStream = true
	if opts.StoreDir == "" {
		opts.StoreDir = filepath.Join(cfg.DataDir, "nats")
	}
	if cfg.SyncAlways {
		opts.SyncAlways = true
	}
	opts.NoSigs = true
	if cfg.AuthDir == "" {
		cfg.AuthDir = cfg.DataDir
	}
	if err := embeddedAuth(opts, cfg.AuthDir, cfg.Policy); err != nil {
		unlock(lock)
		return nil, fmt.Errorf("broker: embedded server credentials: %w", err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		unlock(lock)
		return nil, fmt.Errorf("broker: embedded server: %w", err)
	}
	ns.SetLoggerV2(&slogAdapter{l: cfg.Logger.With("component", "nats")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock(lock)
		return nil, fmt.Errorf("broker: embedded server did not start listening on %s:%d (is the port taken?)", opts.Host, opts.Port)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock(lock)
		return nil, fmt.Errorf("broker: embedded server started without JetStream (store %s); see the log above", opts.StoreDir)
	}
	return &Server{ns: ns, lock: lock, authDir: cfg.AuthDir}, nil
}

// embeddedAuth makes the server require one of the roles' NKeys, creating
// them under authDir if needed, unless the configuration text already set
// up its own authentication.
func embeddedAuth(opts *server.Options, authDir string, policy Policy) error {
	if len(opts.Nkeys) > 0 || len(opts.Users) > 0 || len(opts.Accounts) > 0 ||
		len(opts.TrustedOperators) > 0 || opts.Username != "" || opts.Authorization != "" {
		return nil
	}
	if policy == nil {
		return errors.New("no role permissions (ServerConfig.Policy)")
	}
	keys, err := ensureCredentials(authDir)
	if err != nil {
		return err
	}
	for _, r := range Roles {
		p := policy(r)
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{
			Nkey: keys[r],
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: p.Publish},
				Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
			},
		})
	}
	opts.NoAuthUser = ""
	return nil
}

func splitListen(listen string) (string, int, error) {
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("broker: nats listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("broker: nats listen address %q: bad port", listen)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

func unlock(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// ClientURL returns the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// NATS returns the underlying nats-server.
func (s *Server) NATS() *server.Server { return s.ns }

// AuthDir is the directory under which the server keeps its credentials
// (NKeyFile(AuthDir, role)).
func (s *Server) AuthDir() string { return s.authDir }

// ClientOptions returns the options that authenticate as role to this
// server.
func (s *Server) ClientOptions(role Role) ([]nats.Option, error) {
	return EmbeddedOptions(s.authDir, role)
}

// Connect opens a client connection to the server as role that reconnects
// forever.
func (s *Server) Connect(role Role, opts ...nats.Option) (*nats.Conn, error) {
	auth, err := s.ClientOptions(role)
	if err != nil {
		return nil, err
	}
	return Connect(s.ClientURL(), append(auth, opts...)...)
}

// Shutdown stops the server, waits until its store is closed, and releases
// the data directory.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	if s.lock != nil {
		unlock(s.lock)
		s.lock = nil
	}
}

// Connect opens a client connection to url (comma-separated for a
// cluster) that keeps reconnecting while a server restarts; JetStream
// publish acknowledgements, not the reconnect buffer, are what folio relies
// on. opts come after folio's defaults and may override them.
func Connect(url string, opts ...nats.Option) (*nats.Conn, error) {
	all := append([]nats.Option{
		nats.Name("folio"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
	}, opts...)
	nc, err := nats.Connect(url, all...)
	if err != nil {
		return nil, fmt.Errorf("broker: connecting to %s: %w", url, err)
	}
	return nc, nil
}

// slogAdapter sends nats-server log lines to slog.
type slogAdapter struct{ l *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
