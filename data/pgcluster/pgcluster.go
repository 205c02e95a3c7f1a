// Package pgcluster runs a private PostgreSQL + PostGIS cluster under a
// directory, for gusu's embedded default and for tests.
//
// It uses the system's PostgreSQL binaries, listens only on a Unix socket
// inside the directory (no TCP port, so clusters never collide), and, since
// PostgreSQL refuses to run as root, runs initdb and postgres as the
// `postgres` OS user when the caller is root.
//
// A cluster that is already running on the same directory (for example a
// `gusu serve` while `gusu import osm` runs) is attached to, not restarted,
// and left running on Stop. A postmaster.pid left by a crash is recognised
// as stale and removed.
package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Debian's package names, for messages that tell the operator what to install.
const installHint = "install them with: apt-get install postgresql-15 postgresql-15-postgis-3"

// Port only names the socket file (.s.PGSQL.5432); nothing listens on TCP.
const Port = 5432

// Superuser is the role initdb creates; local socket connections are trusted
// because the socket lives in a directory only the cluster's owner can enter.
const Superuser = "gusu"

// Options configure Start.
type Options struct {
	// Dir holds the cluster: PGDATA is Dir itself, and so is the socket.
	Dir string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
	// Durable=false turns off fsync, for throwaway test clusters.
	Durable bool
	// Settings are extra postgres -c settings, e.g. "max_connections": "200".
	Settings map[string]string
}

// Cluster is a running (started or attached) cluster.
type Cluster struct {
	dir      string
	bin      string
	attached bool
	log      *slog.Logger
	owner    *owner
	opts     Options

	mu       sync.Mutex
	proc     *process // the postgres this process started; nil if none
	stopping bool     // Stop was called: an exit is not a crash
}

// process is one run of postgres.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // its exit status, once done is closed
}

func (c *Cluster) current() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// FindBinaries returns the directory of the PostgreSQL server binaries:
// `pg_config --bindir` when it has initdb, else the newest
// /usr/lib/postgresql/*/bin, and checks that PostGIS is installed for it.
func FindBinaries() (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	globbed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(globbed, func(i, j int) bool { return versionOf(globbed[i]) > versionOf(globbed[j]) })
	candidates = append(candidates, globbed...)
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres")) {
			if err := checkPostGIS(dir); err != nil {
				return "", err
			}
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries not found (looked at pg_config --bindir and /usr/lib/postgresql/*/bin): %s", installHint)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// checkPostGIS looks for postgis.control in the cluster's extension
// directory, so a missing package is reported before initdb, not as an
// obscure CREATE EXTENSION failure later.
func checkPostGIS(binDir string) error {
	share := ""
	if out, err := exec.Command(filepath.Join(binDir, "pg_config"), "--sharedir").Output(); err == nil {
		share = strings.TrimSpace(string(out))
	} else {
		share = filepath.Join("/usr/share/postgresql", filepath.Base(filepath.Dir(binDir)))
	}
	if _, err := os.Stat(filepath.Join(share, "extension", "postgis.control")); err != nil {
		return fmt.Errorf("PostGIS is not installed for the PostgreSQL in %s: %s", binDir, installHint)
	}
	return nil
}

// Start creates the cluster on first use, recovers from a stale pid file,
// starts postgres (or attaches to one already running on dir) and waits
// until it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster directory %q: %w", opts.Dir, err)
	}
	if n := len(filepath.Join(dir, ".s.PGSQL.5432")); n > 107 {
		return nil, fmt.Errorf("cluster directory %s is too long for a Unix socket path (%d bytes, limit 107): use a shorter --data-dir", dir, n)
	}
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, log: log, opts: opts}
	owner, err := runAs()
	if err != nil {
		return nil, err
	}
	c.owner = owner
	if err := prepareDir(dir, owner, log); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := c.initdb(ctx, owner); err != nil {
			return nil, err
		}
	}
	if pid, alive := c.runningPostmaster(); alive {
		log.Info("attaching to the running cluster", "dir", dir, "pid", pid)
		c.attached = true
		if err := c.waitReady(ctx, 60*time.Second); err != nil {
			return nil, err
		}
	} else {
		if err := c.startAndWait(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.ensureDatabase(ctx, "gusu"); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// startAndWait starts postgres and waits until it accepts connections.
// After a crash the old server's processes may take a moment to go, and
// PostgreSQL refuses to start while their shared memory is in use: a start
// that fails at once is retried a few times.
func (c *Cluster) startAndWait(ctx context.Context) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.start(c.owner, c.opts); err != nil {
			return err
		}
		err = c.waitReady(ctx, 60*time.Second)
		if err == nil || !errors.Is(err, errExited) {
			break
		}
		c.log.Warn("postgres exited during start-up; retrying", "attempt", attempt+1, "error", err)
		time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		_ = c.Stop(context.Background())
	}
	return err
}

// Supervise restarts postgres whenever it exits without Stop having been
// called (a crash, an OOM kill, an operator's kill), until ctx ends: gusu
// answers 503 while it is down and recovers by itself. Restarts back off
// from 1 s to 1 min. onRestart, if set, is called after each restart. It
// returns at once for an attached cluster, which another process owns.
func (c *Cluster) Supervise(ctx context.Context, onRestart func()) {
	if c.attached {
		return
	}
	backoff := time.Second
	for {
		p := c.current()
		if p == nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-p.done:
		}
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if stopping {
			return
		}
		c.log.Error("PostgreSQL exited unexpectedly; restarting it", "dir", c.dir, "exit", fmt.Sprint(p.err), "log", c.logTail(), "in", backoff)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			if err := c.startAndWait(ctx); err == nil {
				break
			} else if ctx.Err() != nil {
				return
			} else {
				c.log.Error("PostgreSQL did not restart; trying again", "in", backoff, "error", err)
			}
		}
		c.log.Info("PostgreSQL is back")
		backoff = time.Second
		if onRestart != nil {
			onRestart()
		}
	}
}

// owner is the OS user postgres runs as; nil means the current user.
type owner struct {
	uid, gid uint32
	name     string
}

func runAs() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("gusu runs as root and PostgreSQL refuses to, but there is no 'postgres' OS user to run it as: %s", installHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &owner{uid: uint32(uid), gid: uint32(gid), name: u.Username}, nil
}

func (o *owner) sysProcAttr() *syscall.SysProcAttr {
	// Own process group: a Ctrl-C in gusu's terminal must not reach postgres
	// directly, so that gusu can close its connections first and then stop it.
	attr := &syscall.SysProcAttr{Setpgid: true}
	if o != nil {
		attr.Credential = &syscall.Credential{Uid: o.uid, Gid: o.gid}
	}
	return attr
}

// prepareDir creates dir for the cluster's owner and makes sure that owner
// can reach it. Directories such as /root are closed to other users; the
// postgres user needs only search (x) permission on each parent, which is
// granted with a warning rather than failing a first run.
func prepareDir(dir string, o *owner, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create cluster directory %s: %w", dir, err)
	}
	if o == nil {
		return nil
	}
	if err := os.Chown(dir, int(o.uid), int(o.gid)); err != nil {
		return fmt.Errorf("give %s to the %s user: %w", dir, o.name, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		reachable := st.Mode()&0o001 != 0 ||
			(sys != nil && sys.Uid == o.uid && st.Mode()&0o100 != 0) ||
			(sys != nil && sys.Gid == o.gid && st.Mode()&0o010 != 0)
		if !reachable {
			if err := os.Chmod(p, st.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("the %s user cannot reach %s because %s is closed to it, and granting search permission failed: %w", o.name, dir, p, err)
			}
			log.Warn("granted search permission (o+x) so the postgres user can reach the cluster", "dir", p)
		}
		if p == "/" || p == filepath.Dir(p) {
			return nil
		}
	}
}

func (c *Cluster) initdb(ctx context.Context, o *owner) error {
	c.log.Info("creating a PostgreSQL cluster (first run)", "dir", c.dir)
	// initdb into a scratch directory and rename, so an interrupted initdb
	// never leaves a half-made cluster that later starts would trip over.
	tmp := c.dir + ".init"
	_ = os.RemoveAll(tmp)
	if err := prepareDir(tmp, o, c.log); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"),
		"-D", tmp, "--username="+Superuser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	cmd.SysProcAttr = o.sysProcAttr()
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("initdb %s: %w\n%s", c.dir, err, out)
	}
	if err := os.Remove(c.dir); err != nil {
		return fmt.Errorf("replace empty %s: %w", c.dir, err)
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	return nil
}

// runningPostmaster reads postmaster.pid and reports whether that process
// is a live postgres serving this directory. A pid file whose process is
// gone, or whose pid now belongs to something else (pids are reused after a
// reboot or in containers), is stale: it and the socket lock are removed.
func (c *Cluster) runningPostmaster() (int, bool) {
	pidFile := filepath.Join(c.dir, "postmaster.pid")
	f, err := os.Open(pidFile)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(f)
	sc.Scan()
	pid, _ := strconv.Atoi(strings.TrimSpace(sc.Text()))
	f.Close()
	if pid > 0 && processServes(pid, c.dir) {
		return pid, true
	}
	c.log.Warn("removing stale postmaster.pid left by a crash", "pid", pid, "dir", c.dir)
	_ = os.Remove(pidFile)
	_ = os.Remove(filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d.lock", Port)))
	_ = os.Remove(filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d", Port)))
	return 0, false
}

func processServes(pid int, dir string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !strings.HasSuffix(args[0], "postgres") {
		return false
	}
	for i, a := range args {
		if a == "-D" && i+1 < len(args) && filepath.Clean(args[i+1]) == dir {
			return true
		}
	}
	return false
}

func (c *Cluster) start(o *owner, opts Options) error {
	logPath := c.dir + ".log"
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open postgres log %s: %w", logPath, err)
	}
	settings := map[string]string{
		"listen_addresses":        "",
		"unix_socket_directories": c.dir,
		"port":                    strconv.Itoa(Port),
		"max_connections":         "100",
		"shared_buffers":          "128MB",
		"logging_collector":       "off",
	}
	if !opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", c.dir}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), args...)
	cmd.SysProcAttr = o.sysProcAttr()
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	logFile.Close()
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.mu.Lock()
	c.proc, c.stopping = p, false
	c.mu.Unlock()
	c.log.Info("started PostgreSQL", "dir", c.dir, "pid", cmd.Process.Pid, "log", logPath)
	return nil
}

// errExited marks a postgres that exited before accepting connections.
var errExited = errors.New("postgres exited during start-up")

// logTail is the end of the server log, for errors.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.dir + ".log")
	if err != nil {
		return "see " + c.dir + ".log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		var done chan struct{}
		p := c.current()
		if p != nil {
			done = p.done
		}
		select {
		case <-done:
			return fmt.Errorf("%w (%v): %s", errExited, p.err, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within %v: %w (see %s.log)", timeout, err, c.dir)
		}
	}
}

func (c *Cluster) ensureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.ConnString("postgres"))
	if err != nil {
		return fmt.Errorf("connect to cluster: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return fmt.Errorf("ask whether the cluster is a standby: %w", err)
	}
	if exists || standby { // a standby has its primary's databases, and can create none
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Dir is the cluster directory (PGDATA and socket directory).
func (c *Cluster) Dir() string { return c.dir }

// Attached reports whether Start found the cluster already running.
func (c *Cluster) Attached() bool { return c.attached }

// ConnString returns a libpq connection string for database db over the socket.
func (c *Cluster) ConnString(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.dir, Port, Superuser, db)
}

// URL returns the same as a postgres:// URL, the form --database-url takes.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", Superuser, db, c.dir, Port)
}

// Stop shuts postgres down (fast shutdown: active sessions are ended, data is
// checkpointed) if this process started it; an attached cluster is left running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	p := c.proc
	c.stopping = true
	c.proc = nil
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		c.log.Warn("postgres did not stop within 30s; sending SIGQUIT")
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		<-p.done
	case <-ctx.Done():
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		<-p.done
	}
	c.log.Info("stopped PostgreSQL", "dir", c.dir)
	return nil
}

// Kill stops postgres abruptly, as a crash would, leaving postmaster.pid
// behind; a supervised cluster restarts it. For tests of crash recovery.
func (c *Cluster) Kill() {
	p := c.current()
	if p == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	// Wait for the backends too, as a real crash would leave no process.
	for i := 0; i < 200 && syscall.Kill(-pgid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// StartReplica makes a streaming replica of the running cluster c in dir
// (pg_basebackup -R: a hot standby that follows c over its Unix socket)
// and starts it. opts.Settings may hold, say, recovery_min_apply_delay.
func StartReplica(ctx context.Context, c *Cluster, dir string, opts Options) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	o, err := runAs()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, o, c.log); err != nil {
		return nil, err
	}
	// A fast checkpoint: the default spreads it over minutes.
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pg_basebackup"), "-D", dir, "-R", "-X", "stream", "--checkpoint=fast",
		"-h", c.dir, "-p", strconv.Itoa(Port), "-U", Superuser, "--no-sync")
	cmd.SysProcAttr = o.sysProcAttr()
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pg_basebackup of %s: %w\n%s", c.dir, err, out)
	}
	// The socket lives in the data directory, so the backup copied the
	// primary's socket lock file, which would stop the replica starting.
	_ = os.Remove(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d.lock", Port)))
	// A standby needs at least its primary's max_connections and the like:
	// it starts with the primary's settings, opts.Settings on top.
	settings := map[string]string{}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	opts.Dir, opts.Settings, opts.Durable = dir, settings, c.opts.Durable
	if opts.Logger == nil {
		opts.Logger = c.log
	}
	return Start(ctx, opts)
}
