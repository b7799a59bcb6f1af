package kv

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jitrt/jitrt/kv/cluster"
	"github.com/tidwall/buntdb"
)

// # The PostgreSQL store
//
// OpenPostgres keeps the same Store — BuntDB in memory, read by every View — and writes
// each Update to a table of a PostgreSQL schema instead of the state file: one SQL
// transaction per Update, committed before the memory is, so a write PostgreSQL refuses
// (or a process killed mid-way) changes neither. The schema is created and migrated on
// open (versioned migrations, applied under a lock). Without Options.Shared one process
// owns the schema at a time: it holds a session advisory lock for as long as it is open,
// and the owner table says who it is.
//
// With Options.Shared several processes keep it (cluster.go). Each transaction has a
// number (kv_seq_gen) that its rows carry, deletes leave tombstones, and writers take
// turns under the schema's writer lock (a transaction-scoped advisory lock): an Update
// takes that lock first, reads what the others wrote since the memory's last number, and
// only then takes the memory's write lock, so readers never wait for another process.
// Every commit notifies the schema's channel; each process catches up on it (LISTEN), and
// CatchUpIfBehind catches up on demand. A connection the database drops is made again.

// migrations are the schema's versions, applied in order; each runs once.
var migrations = []string{
	1: `CREATE TABLE IF NOT EXISTS %[1]s.kv (key text PRIMARY KEY, value text NOT NULL)`,
	2: `CREATE TABLE IF NOT EXISTS %[1]s.owner (id int PRIMARY KEY CHECK (id = 1), pid int NOT NULL, command text NOT NULL, host text NOT NULL, since timestamptz NOT NULL)`,
	// every write carries the number of its transaction, and a delete leaves a tombstone:
	// a process that shares the schema reads what others wrote since its last number
	3: `ALTER TABLE %[1]s.kv ADD COLUMN IF NOT EXISTS seq bigint NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false;
		CREATE INDEX IF NOT EXISTS kv_seq ON %[1]s.kv (seq);
		CREATE SEQUENCE IF NOT EXISTS %[1]s.kv_seq_gen`,
	// the processes that share the schema, and the results their leaders published (cluster.go)
	4: `CREATE TABLE IF NOT EXISTS %[1]s.replicas (backend int PRIMARY KEY, pid int NOT NULL, command text NOT NULL, host text NOT NULL, since timestamptz NOT NULL);
		CREATE TABLE IF NOT EXISTS %[1]s.runs (id bigserial PRIMARY KEY, name text NOT NULL, result text NOT NULL, at timestamptz NOT NULL DEFAULT now());
		CREATE INDEX IF NOT EXISTS runs_name ON %[1]s.runs (name, id)`,
	// large values (a sync's member chunks) are compressed with lz4, about 3× faster to
	// write than the default pglz; a server without lz4 stores them uncompressed, as fast
	5: `DO $$ BEGIN
			EXECUTE 'ALTER TABLE %[1]s.kv ALTER COLUMN value SET COMPRESSION lz4';
		EXCEPTION WHEN OTHERS THEN
			EXECUTE 'ALTER TABLE %[1]s.kv ALTER COLUMN value SET STORAGE EXTERNAL';
		END $$`,
	// the owner's database session: a row whose session is gone names no one
	6: `ALTER TABLE %[1]s.owner ADD COLUMN IF NOT EXISTS backend int`,
	// the number of the last transaction committed (the sequence's last_value counts the
	// rolled-back ones too, and then CatchUpIfBehind would catch up on every request for nothing)
	7: `CREATE TABLE IF NOT EXISTS %[1]s.head (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
		INSERT INTO %[1]s.head (id, seq) SELECT 1, coalesce(max(seq), 0) FROM %[1]s.kv ON CONFLICT (id) DO NOTHING`,
	// each replica's app folder, as a hash: replicas whose folders differ are told
	8: `ALTER TABLE %[1]s.replicas ADD COLUMN IF NOT EXISTS app text NOT NULL DEFAULT ''`,
	// how far each replica has caught up, and up to which transaction the deletes'
	// tombstones were purged (a replica behind it reads the whole state again)
	9: `ALTER TABLE %[1]s.replicas ADD COLUMN IF NOT EXISTS seen bigint NOT NULL DEFAULT 0;
		ALTER TABLE %[1]s.head ADD COLUMN IF NOT EXISTS purged bigint NOT NULL DEFAULT 0`,
	// the calls of a platform's API taken by the replicas, per second (budget.go)
	10: `CREATE TABLE IF NOT EXISTS %[1]s.budget (name text NOT NULL, sec bigint NOT NULL, n int NOT NULL, PRIMARY KEY (name, sec))`,
	// small values beside the state, not in its change log (notes.go)
	11: `CREATE TABLE IF NOT EXISTS %[1]s.notes (key text PRIMARY KEY, value text NOT NULL, at timestamptz NOT NULL DEFAULT now())`,
	// a large write's values packed by the writer (packed.go): value NULL, packed the S2
	// block, stored as it comes; a replica says whether it reads them (one that does not,
	// an older jitrt still running, keeps the writers from packing while it lives)
	12: `ALTER TABLE %[1]s.kv ALTER COLUMN value DROP NOT NULL, ADD COLUMN IF NOT EXISTS packed bytea;
		ALTER TABLE %[1]s.kv ALTER COLUMN packed SET STORAGE EXTERNAL;
		ALTER TABLE %[1]s.kv ADD CONSTRAINT kv_value_or_packed CHECK ((value IS NULL) <> (packed IS NULL));
		ALTER TABLE %[1]s.replicas ADD COLUMN IF NOT EXISTS packs boolean NOT NULL DEFAULT false`,
	// a random token for each transaction's number: a local copy of the state (pgcopy.go)
	// holds the number and token of its last transaction, and is used only while the
	// schema holds that number with that token (a database restored to before it and
	// written again, or another database, gives the number another token or none)
	13: `CREATE TABLE IF NOT EXISTS %[1]s.commits (seq bigint PRIMARY KEY, token bigint NOT NULL)`,
}

// writeTimeout bounds each exchange with the database made under the memory's write lock
// (a write, waiting for the other processes' writer, a catch-up).
const writeTimeout = time.Minute

// SchemaPattern is what a schema name may be (it is written into SQL).
const SchemaPattern = `^[a-z_][a-z0-9_]{0,62}$`

// validSchema reports whether name matches SchemaPattern (checked by hand: the regexp of
// it compiled as every jitrt command started).
func validSchema(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// CheckSchema says why name cannot be the schema of a store (nil if it can): lower-case
// letters, digits and _, not starting with a digit, at most 63 characters.
func CheckSchema(name string) error {
	if !validSchema(name) {
		return fmt.Errorf("schema %q is not a name jitrt uses: lower-case letters, digits and _, not starting with a digit, at most 63 characters", name)
	}
	return nil
}

// pgStore is the PostgreSQL side of a Store.
type pgStore struct {
	conn   *pgx.Conn // writes and catch-ups, under the memory's write lock
	schema string
	where  string // the URL without its password, for messages
	url    string // to connect again (never shown: it holds the password)
	opts   Options
	log    *slog.Logger
	// lastSeq is the number of the last transaction the memory holds, and lastToken its
	// token (0: not known), both guarded by the memory's write lock.
	lastSeq, lastToken int64
	// copy is the local copy of the state this process keeps or reads (nil: none);
	// fromCopy, the memory was opened from it
	copy     *localCopy
	fromCopy bool
	// seen is lastSeq as readers may see it (the memory has committed it), for CatchUpIfBehind.
	seen       atomic.Int64
	freshAfter atomic.Int64 // unix nanoseconds before which CatchUpIfBehind does not ask the database
	// freshCatchUps counts the CatchUpIfBehind calls that found something new and caught up;
	// freshAsked those that asked the database, freshFailed those whose question failed.
	freshCatchUps, freshAsked, freshFailed atomic.Int64
	// freshAt is when the memory was last known to hold every commit (unix nanoseconds).
	freshAt atomic.Int64
	// app is the hash of the app folder this replica advertised (AdvertiseApp); backend
	// its row's session in the replicas table.
	app     atomic.Pointer[string]
	backend atomic.Int64
	shared  bool
	writeMu sync.Mutex       // a shared store's writers of this process: one holds conn at a time
	cl      *cluster.Cluster // a shared store's coordination (locks, leads, budgets)
	pool    *cluster.Pool    // the cluster's short connections: catch-ups, CatchUpIfBehind, positions
	// onLocked catches the memory up on a lock's connection once the lock is granted
	onLocked func(ctx context.Context, q cluster.Querier) error
	tx       pgx.Tx // a shared store's transaction in progress (Update)
	// hasPacked: kv has the packed column (migration 12); migrated: the schema is at the
	// last version
	hasPacked, migrated bool
	// loadedRaw: the last load read the rows where pgx received them; inArena, the bytes
	// of the values it unpacked outside the heap (load)
	loadedRaw bool
	inArena   int
	listen    *pgx.Conn
	stop      chan struct{}
	stopped   chan struct{}
}

// querier is a connection, a pool or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// op is one write of a transaction, for PostgreSQL (seq: its transaction's number, for a
// write read back from the schema).
type op struct {
	key, value string
	del        bool
	seq        int64
}

// OpenPostgres opens the state kept in schema of the PostgreSQL database at dbURL: it
// connects, takes the schema's owner lock (waiting up to LockTimeout), creates or migrates
// the schema, and loads it into memory.
func OpenPostgres(ctx context.Context, dbURL, schema string, opts Options) (*Store, error) {
	if !validSchema(schema) {
		return nil, fmt.Errorf("kv: schema %q must be 1 to 63 lowercase letters, digits and _", schema)
	}
	var dirLock *dirLock
	if opts.LockDir != "" {
		var err error
		if dirLock, err = opts.lock(ctx, opts.LockDir); err != nil {
			return nil, err
		}
	}
	where := RedactURL(dbURL)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// the local copy is read and checked while the database is reached
	var opening *copyOpening
	if opts.CopyDir != "" {
		opening = prepareCopy(opts.CopyDir, where, schema, log)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		opening.abandon()
		if dirLock != nil {
			dirLock.release()
		}
		return nil, fmt.Errorf("kv: connect to %s: %w", where, redactErr(err, dbURL))
	}
	pg := &pgStore{conn: conn, schema: schema, where: where, url: dbURL, opts: opts}
	fail := func(err error) (*Store, error) {
		opening.abandon()
		if pg.cl != nil {
			pg.cl.Close()
		}
		pg.conn.Close(context.Background())
		if dirLock != nil {
			dirLock.release()
		}
		return nil, err
	}
	pg.shared = opts.Shared
	if !pg.shared {
		if err := pg.lock(ctx, opts, false); err != nil {
			return fail(err)
		}
	}
	if err := pg.migrate(ctx); err != nil {
		return fail(err)
	}
	if !pg.shared {
		if err := pg.claim(ctx, opts.Command); err != nil {
			return fail(err)
		}
	} else if err := pg.joinCluster(ctx, dbURL, opts); err != nil {
		return fail(err)
	}
	s := &Store{path: where + "#" + schema, dir: opts.LockDir, log: log, pg: pg, lock: dirLock, cluster: cluster.Local()}
	if pg.cl != nil {
		s.cluster = pg.cl
		pg.onLocked = func(ctx context.Context, q cluster.Querier) error { return s.catchUp(ctx, q) }
	}
	pg.log = log
	if s.db, err = buntdb.Open(":memory:"); err != nil {
		return fail(err)
	}
	// the connection that listens is made while the state loads (a connection is a new
	// server process: 15-20 ms on a small machine)
	type connected struct {
		conn *pgx.Conn
		err  error
	}
	listening := make(chan connected, 1)
	if opts.OneRun && opts.ListenAfter == 0 {
		opts.ListenAfter = OneRunListenAfter
	}
	listenNow := pg.shared && opts.ListenAfter <= 0
	if listenNow {
		go func() {
			c, err := pg.listenConn(ctx)
			listening <- connected{c, err}
		}()
	}
	loaded := false
	if p := opening.hand(); p != nil {
		pg.copy = p.c
		if p.ok {
			loaded, err = pg.loadCopy(ctx, s.db, &p.st)
		}
	}
	if err == nil && !loaded {
		err = pg.load(ctx, s.db)
		if err == nil && pg.copy != nil && isEmpty(s.db) {
			pg.copy.startEmpty(s.db, pg.lastSeq, pg.lastToken)
		}
	}
	if err != nil {
		pg.copy.release()
		if listenNow {
			if l := <-listening; l.err == nil {
				l.conn.Close(context.Background())
			}
		}
		s.db.Close()
		return fail(err)
	}
	if pg.shared {
		if listenNow {
			l := <-listening
			if err := l.err; err != nil {
				s.db.Close()
				return fail(fmt.Errorf("kv: listen to %s: %w", where, redactErr(err, dbURL)))
			}
			pg.listen = l.conn
		}
		lctx, stopListening := context.WithCancel(context.Background())
		pg.stop, pg.stopped = make(chan struct{}), make(chan struct{})
		go func() { <-pg.stop; stopListening() }()
		if listenNow {
			go s.listenLoop(lctx)
		} else {
			go s.listenLater(lctx, opts.ListenAfter)
		}
		every := opts.PurgeInterval
		if every <= 0 {
			every = DefaultPurgeInterval
		}
		go s.purgeLoop(lctx, every)
	}
	if pg.shared || pg.fromCopy {
		// what was written while the state loaded, before the LISTEN, or since the copy's
		// transaction (an owner deletes outright: a delete since then reads the whole
		// state): read on the writes' connection (idle until the store is handed out)
		cctx, cancelCatchUp := context.WithTimeout(ctx, writeTimeout)
		err := s.catchUp(cctx, pg.conn)
		cancelCatchUp()
		if err != nil {
			pg.copy.release()
			pg.close()
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

// OpenPostgresReadOnly loads the state kept in schema without taking its lock and without
// writing (jitrt ls beside a jitrt run that owns it). A schema not there yet is an empty
// store.
func OpenPostgresReadOnly(ctx context.Context, dbURL, schema string) (*Store, error) {
	if !validSchema(schema) {
		return nil, fmt.Errorf("kv: schema %q must be 1 to 63 lowercase letters, digits and _", schema)
	}
	where := RedactURL(dbURL)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("kv: connect to %s: %w", where, redactErr(err, dbURL))
	}
	defer conn.Close(context.Background())
	pg := &pgStore{conn: conn, schema: schema, where: where}
	s := &Store{path: where + "#" + schema, readOnly: true, log: slog.New(slog.DiscardHandler), cluster: cluster.Local()}
	if s.db, err = buntdb.Open(":memory:"); err != nil {
		return nil, err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".kv").Scan(&exists); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("kv: read %s#%s: %w", where, schema, err)
	}
	if exists {
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'packed' AND NOT attisdropped)`,
			schema+".kv").Scan(&pg.hasPacked); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("kv: read %s#%s: %w", where, schema, err)
		}
		if err := pg.load(ctx, s.db); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

// IsDatabaseURL reports whether a store names a PostgreSQL database rather than a folder.
func IsDatabaseURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// URLSecrets are the parts of a database URL to mask wherever they might show.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw}
	}
	var out []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	if pw := u.Query().Get("password"); pw != "" {
		out = append(out, pw, url.QueryEscape(pw))
	}
	return out
}

// lockKey is the advisory lock of a schema.
func (pg *pgStore) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("jitrt:" + pg.schema))
	return int64(h.Sum64())
}

// lock takes the schema's owner lock (shared: one of the replicas that share it), waiting
// up to the options' timeout; the holders are named in the *LockedError.
func (pg *pgStore) lock(ctx context.Context, opts Options, shared bool) error {
	wait := opts.LockTimeout
	if wait == 0 {
		wait = DefaultLockTimeout
	}
	try := `SELECT pg_try_advisory_lock($1)`
	if shared {
		try = `SELECT pg_try_advisory_lock_shared($1)`
	}
	deadline := time.Now().Add(max(wait, 0))
	for {
		var got bool
		if err := pg.conn.QueryRow(ctx, try, pg.lockKey()).Scan(&got); err != nil {
			return fmt.Errorf("kv: lock %s#%s: %w", pg.where, pg.schema, err)
		}
		if got {
			return nil
		}
		if time.Now().After(deadline) {
			return pg.lockedError(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrate brings the schema to the last version, under a transaction-scoped lock so that
// two processes opening a new schema at once do it once. The versions missing go in one
// exchange (a new schema's twelve, one by one, were 24 round trips); if one fails, they are
// applied again one by one in a new transaction, to name the version that fails.
func (pg *pgStore) migrate(ctx context.Context) error { return pg.migrateTo(ctx, migrations) }

// migrateTo is migrate to the versions given (migrations: a test gives others).
func (pg *pgStore) migrateTo(ctx context.Context, migrations []string) error {
	// a schema at the last version already (every open but the first) is only read
	var have int
	if err := pg.conn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0) FROM %s.migrations`, pg.schema)).Scan(&have); err == nil && have == len(migrations)-1 {
		pg.hasPacked, pg.migrated = true, true
		return nil
	}
	var batchFailed bool
	err := pgx.BeginFunc(ctx, pg.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d);
			CREATE SCHEMA IF NOT EXISTS %s;
			CREATE TABLE IF NOT EXISTS %[2]s.migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
			pg.lockKey()+1, pg.schema), pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("kv: create schema %s in %s: %w", pg.schema, pg.where, err)
		}
		var have int
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0) FROM %s.migrations`, pg.schema)).Scan(&have); err != nil {
			return err
		}
		if have >= len(migrations) {
			return fmt.Errorf("kv: schema %s in %s is at version %d; this jitrt knows up to %d: use a newer jitrt", pg.schema, pg.where, have, len(migrations)-1)
		}
		if have == len(migrations)-1 {
			return nil
		}
		var all strings.Builder
		for v := have + 1; v < len(migrations); v++ {
			fmt.Fprintf(&all, migrations[v]+";\n", pg.schema)
		}
		fmt.Fprintf(&all, `INSERT INTO %s.migrations (version) SELECT generate_series(%d, %d)`, pg.schema, have+1, len(migrations)-1)
		_, err := tx.Exec(ctx, all.String(), pgx.QueryExecModeSimpleProtocol)
		batchFailed = err != nil
		return err
	})
	if batchFailed && ctx.Err() == nil {
		err = pg.migrateOneByOne(ctx, migrations)
	}
	if err == nil {
		pg.hasPacked, pg.migrated = true, true
	}
	return err
}

// migrateOneByOne applies the versions missing one at a time, naming the one that fails
// (after the exchange of them all failed).
func (pg *pgStore) migrateOneByOne(ctx context.Context, migrations []string) error {
	return pgx.BeginFunc(ctx, pg.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pg.lockKey()+1); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0) FROM %s.migrations`, pg.schema)).Scan(&have); err != nil {
			return err
		}
		for v := have + 1; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, fmt.Sprintf(migrations[v], pg.schema)); err != nil {
				return fmt.Errorf("kv: migrate schema %s to version %d: %w", pg.schema, v, err)
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.migrations (version) VALUES ($1)`, pg.schema), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// valueColumns are the columns of a row's value in a SELECT of kv: value and packed (as
// NULL in a schema read without migrating it, from before packed values).
func (pg *pgStore) valueColumns() string {
	if pg.hasPacked {
		return "value, packed"
	}
	return "value, NULL::bytea AS packed"
}

// everyonePacks reports whether every process that reads the schema reads packed values
// (a replica of an older jitrt, still running, does not: it says so by its row's default).
func (pg *pgStore) everyonePacks(ctx context.Context, tx pgx.Tx) (bool, error) {
	if !pg.shared {
		return true, nil // the owner alone
	}
	var all bool
	err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(bool_and(packs), true) FROM %s.replicas
		WHERE backend IN (SELECT pid FROM pg_stat_activity)`, pg.schema)).Scan(&all)
	return all, err
}

// claim writes who owns the schema now.
func (pg *pgStore) claim(ctx context.Context, command string) error {
	host, _ := os.Hostname()
	_, err := pg.conn.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.owner (id, pid, command, host, since, backend) VALUES (1, $1, $2, $3, now(), pg_backend_pid())
		ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, command = excluded.command, host = excluded.host, since = excluded.since, backend = excluded.backend`, pg.schema),
		os.Getpid(), command, host)
	return err
}

// load reads the schema's records into memory.
func (pg *pgStore) load(ctx context.Context, db *buntdb.DB) error {
	// the last committed transaction: a delete made outright leaves no row with its number
	// (a schema read without migrating it may have no head yet)
	last := fmt.Sprintf(`SELECT coalesce(max(seq), 0) FROM %s.kv`, pg.schema)
	hasHead, hasCommits := pg.migrated, pg.migrated
	if !pg.migrated {
		if err := pg.conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
			pg.schema+".head", pg.schema+".commits").Scan(&hasHead, &hasCommits); err != nil {
			return fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
		}
	}
	if hasHead {
		last = fmt.Sprintf(`SELECT greatest((%s), (SELECT coalesce(max(seq), 0) FROM %s.head))`, last, pg.schema)
	}
	token := "0"
	if hasCommits {
		token = fmt.Sprintf(`coalesce((SELECT token FROM %s.commits WHERE seq = l), 0)`, pg.schema)
	}
	if err := pg.conn.QueryRow(ctx, fmt.Sprintf(`SELECT l, %s FROM (%s) AS t(l)`, token, last)).Scan(&pg.lastSeq, &pg.lastToken); err != nil {
		return fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	pg.seen.Store(pg.lastSeq)
	pg.freshAt.Store(time.Now().UnixNano())
	rows, err := pg.conn.Query(ctx, fmt.Sprintf(`SELECT key, %s FROM %s.kv WHERE NOT deleted AND seq <= $1`, pg.valueColumns(), pg.schema), pg.lastSeq)
	if err != nil {
		return fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	defer rows.Close()
	// the rows' bytes are read where pgx received them: a packed value is unpacked from
	// there, not from a copy (the whole state's packed bytes, fresh memory a process pays
	// for page by page). A text column's bytes are its text in either format; the packed
	// column's must come in binary (pgx asks for bytea so), else the rows are scanned.
	fields := rows.FieldDescriptions()
	raw := len(fields) == 3 && fields[0].DataTypeOID == pgtype.TextOID && fields[1].DataTypeOID == pgtype.TextOID &&
		fields[2].DataTypeOID == pgtype.ByteaOID && fields[2].Format == pgx.BinaryFormatCode
	pg.loadedRaw = raw
	into := &arena{} // the unpacked values, outside the heap (packed.go)
	defer func() { pg.inArena = into.used }()
	return db.Update(func(tx *buntdb.Tx) error {
		var k string
		var v pgtype.Text
		var packed []byte
		for rows.Next() {
			if raw {
				vals := rows.RawValues()
				k, v, packed = string(vals[0]), pgtype.Text{String: string(vals[1]), Valid: vals[1] != nil}, vals[2]
			} else if err := rows.Scan(&k, &v, &packed); err != nil {
				return err
			}
			value, err := unpack(k, v.String, packed, into)
			if err != nil {
				return fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
			}
			if _, _, err := tx.Set(k, value, nil); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// write applies one transaction's writes in one SQL transaction (a shared store's: the
// one begin opened): the last write of each key wins, as in memory; each row carries the
// transaction's number, and a delete leaves a tombstone.
// copyMin is the size of the values of a write from which it goes by COPY.
const copyMin = 1 << 20

func setBytes(values []string) int {
	n := 0
	for _, v := range values {
		n += len(v)
	}
	return n
}

func (pg *pgStore) write(ops []op, base caughtUp) error {
	last := make(map[string]int, len(ops))
	for i, o := range ops {
		last[o.key] = i
	}
	var setK, setV, delK []string
	for i, o := range ops {
		if last[o.key] != i {
			continue
		}
		if o.del {
			delK = append(delK, o.key)
		} else {
			setK, setV = append(setK, o.key), append(setV, o.value)
		}
	}
	// bounded, as the memory's write lock is held meanwhile: a database that stops
	// answering fails the write rather than every reader
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var seq int64
	token := newToken()
	var copied *pendingAppend // the local copy's append beside a large write
	var held cluster.Fence
	if pg.cl != nil {
		held = pg.cl.Fence()
	}
	body := func(tx pgx.Tx) error {
		// fencing: in the writing transaction, every cluster lock this process holds is
		// still held by its session; one whose connection the database dropped may be
		// another's now, and what its holder read under it may be stale: refused. (A lock
		// let go meanwhile is not missed: it is missing only if still held, below.)
		var missing []int64
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT nextval('%s.kv_seq_gen'), (%s)`, pg.schema, cluster.MissingSQL),
			held.Keys, held.PIDs).Scan(&seq, &missing); err != nil {
			return err
		}
		if len(missing) > 0 && pg.cl.Lost(held, missing) {
			return errLockLost
		}
		// a process that owns the schema alone deletes outright (no other reads its
		// deletes), and says so: a replica later behind it reads the whole state again
		purge := !pg.shared && len(delK) > 0
		// the transaction's token beside its number; the tokens of long ago go (a copy
		// that old is read whole again)
		if _, err := tx.Exec(ctx, fmt.Sprintf(`WITH t AS (INSERT INTO %[1]s.commits (seq, token) VALUES ($1, $3)),
			o AS (DELETE FROM %[1]s.commits WHERE $1 %% $4 = 0 AND seq <= $1 - $5)
			UPDATE %[1]s.head SET seq = $1, purged = CASE WHEN $2 THEN $1 ELSE purged END WHERE id = 1`, pg.schema),
			seq, purge, token, tokensPruneEvery, tokensKept); err != nil {
			return err
		}
		switch {
		case purge:
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.kv WHERE key = ANY($1)`, pg.schema), delK); err != nil {
				return err
			}
		case len(delK) > 0:
			if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s.kv SET value = '', packed = NULL, deleted = true, seq = $2 WHERE key = ANY($1)`, pg.schema), delK, seq); err != nil {
				return err
			}
		}
		switch size := setBytes(setV); {
		case size >= copyMin:
			// A large write (a sync's chunks) goes by COPY straight into kv: pgx streams
			// COPY's rows through a small buffer, where the arrays below are encoded whole
			// into one message (a sync of 100,000 members: 43 MB copied as the buffer
			// doubled, 0.75 s of the client's CPU). COPY cannot update, so the rows of the
			// keys it sets go first: a row replaced, as an UPDATE replaces it, each value
			// compressed and written once (through a session table and INSERT … SELECT,
			// twice).
			if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.kv WHERE key = ANY($1)`, pg.schema), setK); err != nil {
				return err
			}
			packs, err := pg.everyonePacks(ctx, tx)
			if err != nil {
				return err
			}
			if pg.tx != nil { // (run once: a write on its own may run again, below)
				// the local copy's append, written while the server takes the COPY
				copied = pg.copy.appendBeside(base, seq, token, ops)
			}
			// packed here, row by row, as pgx encodes COPY's rows beside its sending them
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{pg.schema, "kv"}, []string{"key", "value", "packed", "seq"},
				&packedRows{keys: setK, values: setV, seq: seq, packs: packs, i: -1}); err != nil {
				return err
			}
		case len(setK) > 0:
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.kv (key, value, seq) SELECT k, v, $3 FROM unnest($1::text[], $2::text[]) AS t(k, v)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, packed = NULL, deleted = false, seq = excluded.seq`, pg.schema), setK, setV, seq); err != nil {
				return err
			}
		}
		if pg.shared {
			if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, pg.channel(), fmt.Sprint(seq)); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if pg.tx != nil {
		err = body(pg.tx)
		if err == nil {
			err = pg.tx.Commit(ctx)
		} else {
			pg.tx.Rollback(ctx)
		}
		pg.tx = nil
		copied.end(err == nil)
	} else {
		// a write whose connection the database closed is written again on a new one:
		// setting and deleting the same keys twice leaves what once does
		err = pg.retry(func() error { return pgx.BeginFunc(ctx, pg.conn, body) })
	}
	if errors.Is(err, errLockLost) {
		return &UnavailableError{Op: "write", Err: ErrLockLost}
	}
	if err != nil {
		return pg.unavailable(context.Background(), "write", fmt.Errorf("kv: write to %s#%s: %w", pg.where, pg.schema, err))
	}
	pg.lastSeq, pg.lastToken = seq, token
	pg.freshAfter.Store(0) // the database answers again: the next read asks it, not the memory
	return nil
}

// retry runs op, and once more on a new connection if the database closed this one (a
// restart, a failover, a terminated backend). It runs under the memory's write lock.
func (pg *pgStore) retry(op func() error) error {
	err := op()
	if err == nil || !pg.conn.IsClosed() {
		return err
	}
	if rerr := pg.reconnect(context.Background()); rerr != nil {
		return fmt.Errorf("%w (and connecting again failed: %v)", err, rerr)
	}
	return op()
}

// reconnect replaces the connection the database closed: it connects again, takes the
// schema's owner lock again (shared, for one of several processes; a process that owned it
// alone and finds another owner now fails) and says again who this process is.
func (pg *pgStore) reconnect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url)
	if err != nil {
		return fmt.Errorf("kv: connect to %s: %w", pg.where, redactErr(err, pg.url))
	}
	pg.conn.Close(context.Background())
	pg.conn = conn
	if err := pg.lock(ctx, pg.opts, pg.shared); err != nil {
		return err
	}
	if pg.shared {
		err = pg.register(ctx)
	} else {
		err = pg.claim(ctx, pg.opts.Command)
	}
	if err == nil && pg.log != nil {
		pg.log.Warn("kv: the database closed the connection; connected again", "database", pg.where, "schema", pg.schema)
	}
	return err
}

// channel is where a shared schema's writers say they wrote.
func (pg *pgStore) channel() string {
	if len(pg.schema) <= 57 { // a channel's name is at most 63 bytes
		return "jitrt_" + pg.schema
	}
	return fmt.Sprintf("jitrt_%s_%08x", pg.schema[:40], uint32(pg.lockKey()))
}

// begin, for a shared store, opens the SQL transaction of an Update: it takes the schema's
// writer lock (writers of every process take turns) and returns what others wrote since
// this process's last transaction, for the memory to hold before the Update reads it.
func (pg *pgStore) begin() (got news, err error) {
	err = pg.retry(func() error {
		got, err = pg.beginOnce()
		return err
	})
	if err != nil {
		return news{}, pg.unavailable(context.Background(), "write", err)
	}
	return got, nil
}

func (pg *pgStore) beginOnce() (news, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	tx, err := pg.conn.Begin(ctx)
	if err != nil {
		return news{}, fmt.Errorf("kv: write to %s#%s: %w", pg.where, pg.schema, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pg.lockKey()+2); err != nil {
		tx.Rollback(ctx)
		return news{}, fmt.Errorf("kv: write to %s#%s: %w", pg.where, pg.schema, err)
	}
	got, err := pg.since(ctx, tx, pg.seen.Load())
	if err != nil {
		tx.Rollback(ctx)
		return news{}, err
	}
	pg.tx = tx
	return got, nil
}

// abort ends a shared store's Update that wrote nothing (or failed).
func (pg *pgStore) abort() {
	if pg.tx != nil {
		pg.tx.Rollback(context.Background())
		pg.tx = nil
	}
}

// news is what since read: the writes of the transactions after a number, each with its
// transaction's number, or the whole state (whole); token is the token of the last of
// those transactions (0: not known).
type news struct {
	ops   []op
	whole bool
	token int64
}

// since are the writes of the transactions after from, each with its transaction's number
// (a key written twice comes once, with its last write: the rows hold the last). When the
// tombstones of deletes after from were purged (this process was cut off while the others
// went on), they are the whole state instead, and whole is true: what the memory holds
// beyond them is gone.
func (pg *pgStore) since(ctx context.Context, q querier, from int64) (got news, err error) {
	// the head's purge mark, the last transaction's token and the rows in one statement,
	// so one snapshot: a purge that commits between them cannot hide a delete
	rows, err := q.Query(ctx, fmt.Sprintf(`SELECT h.purged, (%[3]s), k.key, k.value, k.packed, k.deleted, k.seq FROM %[1]s.head h
		LEFT JOIN LATERAL (SELECT key, %[2]s, deleted, seq FROM %[1]s.kv WHERE seq > $1) k ON true WHERE h.id = 1 ORDER BY k.seq`,
		pg.schema, pg.valueColumns(), pg.lastTokenSQL("WHERE seq > $1")), from)
	if err != nil {
		return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	var purged int64
	for rows.Next() {
		var key *string
		var value pgtype.Text
		var packed []byte
		var del *bool
		var seq *int64
		if err := rows.Scan(&purged, &got.token, &key, &value, &packed, &del, &seq); err != nil {
			rows.Close()
			return news{}, err
		}
		if key != nil {
			v, err := unpack(*key, value.String, packed, nil)
			if err != nil {
				rows.Close()
				return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
			}
			got.ops = append(got.ops, op{key: *key, value: v, del: *del, seq: *seq})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	if purged <= from {
		return got, nil
	}
	rows, err = q.Query(ctx, fmt.Sprintf(`SELECT key, %s, deleted, seq, (%s) FROM %s.kv`, pg.valueColumns(), pg.lastTokenSQL(""), pg.schema))
	if err != nil {
		return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	defer rows.Close()
	got = news{whole: true}
	for rows.Next() {
		var o op
		var value pgtype.Text
		var packed []byte
		if err := rows.Scan(&o.key, &value, &packed, &o.del, &o.seq, &got.token); err != nil {
			return news{}, err
		}
		if o.value, err = unpack(o.key, value.String, packed, nil); err != nil {
			return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
		}
		got.ops = append(got.ops, o)
	}
	if err := rows.Err(); err != nil {
		return news{}, fmt.Errorf("kv: read %s#%s: %w", pg.where, pg.schema, err)
	}
	if pg.log != nil {
		pg.log.Warn("kv: this process was behind what the replicas had purged; it read the whole state again", "database", pg.where, "schema", pg.schema)
	}
	return got, nil
}

// lastTokenSQL is a scalar query of the token of the last transaction whose writes kv
// holds among the rows that where selects (0 when there is none, or no token for it).
func (pg *pgStore) lastTokenSQL(where string) string {
	return fmt.Sprintf(`SELECT coalesce((SELECT token FROM %[1]s.commits WHERE seq = (SELECT max(seq) FROM %[1]s.kv %[2]s)), 0)`, pg.schema, where)
}

// DefaultPurgeInterval is how often a shared store reports its position and purges.
const DefaultPurgeInterval = 30 * time.Second

// purgeLoop, for a shared store, says every interval how far this process's memory has
// caught up and purges the tombstones every replica alive has caught up past.
func (s *Store) purgeLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.pg.purge(ctx); err != nil && ctx.Err() == nil {
			s.log.Debug("kv: purging tombstones failed; trying again later", "err", redactErr(err, s.pg.url))
		}
	}
}

// purge says how far this process's memory has caught up (its row in the replicas table)
// and deletes the tombstones of deletes every replica alive has caught up past (one
// process purges at a time; the others skip). It returns how many it deleted.
func (pg *pgStore) purge(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, BehindCheckTimeout)
	defer cancel()
	if _, err := pg.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s.replicas SET seen = $1 WHERE backend = $2`, pg.schema), pg.seen.Load(), pg.backend.Load()); err != nil {
		return 0, err
	}
	var n int64
	err := pgx.BeginFunc(ctx, pg.pool, func(tx pgx.Tx) error {
		var mine bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, pg.lockKey()+3).Scan(&mine); err != nil || !mine {
			return err
		}
		var upto int64
		if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(min(seen), 0) FROM %s.replicas WHERE backend IN (SELECT pid FROM pg_stat_activity)`, pg.schema)).Scan(&upto); err != nil || upto == 0 {
			return err
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.kv WHERE deleted AND seq <= $1`, pg.schema), upto)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n > 0 {
			_, err = tx.Exec(ctx, fmt.Sprintf(`UPDATE %s.head SET purged = greatest(purged, $1) WHERE id = 1`, pg.schema), upto)
		}
		return err
	})
	return n, err
}

func (pg *pgStore) close() error {
	if pg.stop != nil {
		close(pg.stop)
		<-pg.stopped // (relisten checks the writes' connection: done with it now)
	}
	if pg.cl != nil {
		// bounded: a lock never let go does not hold up the close (first: a process of
		// one run gives back and lets go on the writes' connection, below)
		pg.cl.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// no longer a holder: its row goes with its lock (a failure leaves a row whose
	// session is gone, which names no one either)
	if pg.shared {
		pg.conn.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.replicas WHERE backend = pg_backend_pid()`, pg.schema))
	} else {
		pg.conn.Exec(ctx, fmt.Sprintf(`DELETE FROM %s.owner WHERE id = 1 AND backend = pg_backend_pid()`, pg.schema))
	}
	return pg.conn.Close(ctx) // the session's advisory lock goes with it
}

// listenLoop, for a shared store, keeps the memory up with what the other processes write:
// each of their commits notifies the channel, and the memory catches up.
func (s *Store) listenLoop(ctx context.Context) {
	pg := s.pg
	defer close(pg.stopped)
	defer pg.listen.Close(context.Background())
	for {
		_, err := pg.listen.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !pg.listen.IsClosed() || !s.relisten(ctx) {
				s.log.Warn("kv: listening to the other processes of the schema failed; trying again every second", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				s.relisten(ctx)
			}
		}
		if !s.catchUpUntil(ctx) {
			return
		}
	}
}

// catchUpUntil catches the memory up, trying again each second while it fails (no
// notification may come for what it missed); false if ctx ended first.
func (s *Store) catchUpUntil(ctx context.Context) bool {
	for {
		err := s.CatchUp()
		if err == nil || errors.Is(err, ErrClosed) {
			return true
		}
		s.log.Warn("kv: catching up with the other processes of the schema failed; trying again in a second", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// listenConn is a new connection that listens to the schema's channel.
func (pg *pgStore) listenConn(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, pg.url)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, "LISTEN "+pg.channel()); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	return c, nil
}

// listenLater starts listening after delay (Options.ListenAfter), catches the memory up
// with what was committed before, and goes on as listenLoop.
func (s *Store) listenLater(ctx context.Context, delay time.Duration) {
	pg := s.pg
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			close(pg.stopped)
			return
		case <-t.C:
		}
		conn, err := pg.listenConn(ctx)
		if err == nil {
			pg.listen = conn
			break
		}
		if ctx.Err() == nil {
			s.log.Warn("kv: listening to the other processes of the schema failed; trying again in a second", "err", redactErr(err, pg.url))
		}
		t.Reset(time.Second)
	}
	// what was committed before the LISTEN
	if !s.catchUpUntil(ctx) {
		pg.listen.Close(context.Background())
		close(pg.stopped)
		return
	}
	s.listenLoop(ctx)
}

// relisten, after the database dropped the listening connection (a restart, a
// failover), listens on a new one, and makes sure the writers' connection is alive too,
// so that a process that writes nothing still holds its share of the schema's owner lock
// and is named among the replicas. It reports whether it listens again.
func (s *Store) relisten(ctx context.Context) bool {
	pg := s.pg
	if !pg.listen.IsClosed() {
		return true
	}
	conn, err := pg.listenConn(ctx)
	if err != nil {
		return false
	}
	pg.listen.Close(context.Background())
	pg.listen = conn
	pg.freshAfter.Store(0) // the database is back: reads ask it again at once
	s.log.Info("kv: listening to the other processes of the schema again")
	pg.writeMu.Lock()
	defer pg.writeMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if perr := pg.conn.Ping(pctx); perr != nil && pg.conn.IsClosed() {
		if err := pg.reconnect(ctx); err != nil {
			s.log.Warn("kv: connecting the writers again failed; the next write tries again", "err", err)
		}
	}
	return true
}

// CatchUp makes the memory hold what the other processes sharing a PostgreSQL schema have
// written (it happens by itself when they notify; tests and tools may ask).
func (s *Store) CatchUp() error {
	if !s.Shared() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	err := s.catchUp(ctx, s.pg.pool)
	if err != nil && ctx.Err() == nil {
		// a pooled connection the database dropped is let go on the error: once more
		err = s.catchUp(ctx, s.pg.pool)
	}
	return err
}

// catchUp is CatchUp through q.
func (s *Store) catchUp(ctx context.Context, q querier) error {
	// read before the memory's write lock (readers go on meanwhile), from what the memory
	// had committed; applyNewer skips what it got since
	got, err := s.pg.since(ctx, q, s.pg.seen.Load())
	if err != nil || (len(got.ops) == 0 && !got.whole) {
		return err
	}
	btx, err := s.db.Begin(true)
	if err != nil {
		return translate(err)
	}
	tx := s.remoteTx(btx)
	prev, prevToken := s.pg.lastSeq, s.pg.lastToken
	if err := tx.applyNewer(got); err != nil {
		s.pg.lastSeq, s.pg.lastToken = prev, prevToken
		btx.Rollback()
		return err
	}
	if tx.remote == 0 {
		btx.Rollback() // the memory had them all
		return nil
	}
	seq := s.pg.lastSeq
	s.pg.keepCopy(btx, caughtUp{from: prev, got: got}, nil)
	s.commits.Add(1)
	tx.countGenerations()
	if err := btx.Commit(); err != nil {
		return translate(err)
	}
	s.pg.seen.Store(seq)
	return nil
}

// BehindCheckTimeout bounds CatchUpIfBehind's question to the database; after one that failed, CatchUpIfBehind
// does not ask again for behindPause. It is long enough that only a database that stopped
// answering reaches it: a database or a machine that is merely busy (a CI runner, three
// replicas on two cores) must not turn a read after another replica's write into a stale
// one, as 500 ms did.
const (
	BehindCheckTimeout = 5 * time.Second
	behindPause        = 3 * time.Second
)

// errDatabaseAway is CatchUpIfBehind's answer while it does not ask the database after a failure.
var errDatabaseAway = errors.New("kv: the database did not answer a moment ago; reading the memory as it is")

// CatchUpIfBehind makes the memory of a store shared with other processes hold every transaction
// they had committed when it was called, so that a read after it sees what another replica
// wrote before (a member taken offline there, a session made there). It costs one query
// when nothing is new (at most BehindCheckTimeout: a database that does not answer gets an error,
// and the memory serves as it is); a store that is not shared is always fresh.
func (s *Store) CatchUpIfBehind(ctx context.Context) error {
	if !s.Shared() {
		return nil
	}
	// a database that does not answer leaves the reads to the memory, not waiting on it:
	// for BehindCheckTimeout, then for the next few seconds not asking again
	if time.Now().UnixNano() < s.pg.freshAfter.Load() {
		return errDatabaseAway
	}
	ctx, cancel := context.WithTimeout(ctx, BehindCheckTimeout)
	defer cancel()
	s.pg.freshAsked.Add(1)
	last, err := s.pg.head(ctx)
	if err != nil && connectionLost(ctx, err) && ctx.Err() == nil {
		// a pooled connection the database dropped (a restart, a terminated backend) is
		// let go on the error: once more, on another
		last, err = s.pg.head(ctx)
	}
	if err != nil {
		s.pg.freshFailed.Add(1)
		s.pg.freshAfter.Store(time.Now().Add(behindPause).UnixNano())
		return fmt.Errorf("kv: read %s#%s: %w", s.pg.where, s.pg.schema, err)
	}
	if last <= s.pg.seen.Load() {
		s.pg.freshAt.Store(time.Now().UnixNano())
		return nil
	}
	s.pg.freshCatchUps.Add(1)
	asked := time.Now()
	if err := s.CatchUp(); err != nil {
		return err
	}
	s.pg.freshAt.Store(asked.UnixNano())
	return nil
}

// head is the number of the last transaction committed to the schema.
func (pg *pgStore) head(ctx context.Context) (int64, error) {
	var last int64
	err := pg.pool.QueryRow(ctx, fmt.Sprintf(`SELECT seq FROM %s.head WHERE id = 1`, pg.schema)).Scan(&last)
	return last, err
}

// BehindChecks counts what CatchUpIfBehind did: the times it asked the database, the times it then
// caught up (another process had committed), the times its question failed.
type BehindChecks struct{ Asked, CaughtUp, Failed int64 }

// BehindChecks is what CatchUpIfBehind did so far (zero for a store that is not shared).
func (s *Store) BehindChecks() BehindChecks {
	if !s.Shared() {
		return BehindChecks{}
	}
	return BehindChecks{Asked: s.pg.freshAsked.Load(), CaughtUp: s.pg.freshCatchUps.Load(), Failed: s.pg.freshFailed.Load()}
}

// SinceCaughtUp is how long ago the memory was last known to hold every commit of the other
// processes (a CatchUpIfBehind that succeeded, or the open); 0 for a store that is not shared.
func (s *Store) SinceCaughtUp() time.Duration {
	if !s.Shared() {
		return 0
	}
	at := s.pg.freshAt.Load()
	if at == 0 {
		return 0
	}
	return time.Since(time.Unix(0, at))
}

// RedactURL is a database URL without its password (written xxxxx).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the database"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactErr keeps a driver's error from repeating the URL's password.
func redactErr(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil {
		return errors.New("the connection failed")
	}
	pw, has := u.User.Password()
	if q := u.Query().Get("password"); q != "" {
		pw, has = q, true
	}
	if !has || pw == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "******"))
}
