// Types for connect-sqlsession. They refer to express-session's and pg's types:
// TypeScript users install @types/express-session and @types/pg.
import expressSession = require('express-session');
import { Pool, PoolConfig } from 'pg';

declare namespace connectSqlSession {
  interface Options {
    /** A pg Pool (or anything with pg's query method). The store never ends it. */
    pool?: Pool;
    /** A connection string; the store creates a Pool and ends it in close(). */
    conString?: string;
    /** Pool options; the store creates a Pool and ends it in close(). */
    conObject?: PoolConfig;
    /** Schema of the table; default: found through search_path. */
    schemaName?: string;
    /** Table name; default "http_sessions". */
    tableName?: string;
    /** Seconds a browser-session cookie's row lives (no cookie.expires); default 86400. */
    ttl?: number;
    /**
     * The session key whose value (a non-empty string, or a finite number as
     * text) fills user_id, so Go's DestroyUser / ListUserSessions see the
     * session. Without it the store never changes user_id of existing rows.
     */
    userKey?: string;
    /**
     * Seconds, as sqlsession's AbsoluteTimeout: writes cap expires_at at
     * created_at + this, reads ignore older sessions. Default: none.
     */
    absoluteTimeout?: number;
    /**
     * Largest session, in bytes of the JSON text PostgreSQL prints for the
     * stored jsonb (octet_length(data::text)), as sqlsession's MaxDataBytes;
     * a whole number from 1 to 2^31-1, default 1048576 (1 MiB). A save that
     * would make the stored session larger writes nothing and passes a
     * SizeError to its callback (express-session calls next(err)).
     */
    maxDataBytes?: number;
    /**
     * Encrypts session values at rest as sqlsession's Options.ValueKeys (same
     * keys, same format): the first key seals, all open. Each at least 32
     * bytes. "cookie" and "$seal" (the session's seal salt) stay plaintext.
     */
    valueKeys?: string[];
    /**
     * As sqlsession's RecordDevice: every set and touch made with a request
     * (express-session's req.session) also writes last_seen_at, ip and
     * user_agent, for Go's ListUserSessions ("your active sessions"). The ip
     * is express's req.ip (so the app's `trust proxy`: set it to 1 where Go
     * sets TrustProxy), as an address without zone, else the peer's; the
     * user agent is cut to 256 bytes of valid UTF-8. Needs migration 00003.
     * Default false.
     */
    recordDevice?: boolean;
    /**
     * As sqlsession's MaxSessionsPerUser: when a save gives a user a session
     * (a new session with userKey set, or userKey changed to a user), in the
     * same transaction, the user's oldest sessions (Node's and Go's) beyond
     * this many are deleted; the one saved always stays. Go and Node take
     * the same lock, so concurrent logins on both never exceed it. Needs
     * userKey and a pg.Pool (not a pg.Client). 0 or unset: no cap.
     */
    maxSessionsPerUser?: number;
    /** Logs errors of idle clients of a pool the store created; default console.error. */
    errorLog?: (...args: unknown[]) => void;
  }

  interface SqlSessionStore extends expressSession.Store {
    get(sid: string, callback: (err: any, session?: expressSession.SessionData | null) => void): void;
    get(sid: string): Promise<expressSession.SessionData | null>;
    /**
     * Saves the session. Text jsonb cannot hold (U+0000, unpaired surrogates),
     * in keys and values, is stored as U+FFFD. Over maxDataBytes nothing is
     * written and the callback gets a SizeError.
     */
    set(sid: string, session: expressSession.SessionData, callback?: (err?: any) => void): void;
    touch(sid: string, session: expressSession.SessionData, callback?: (err?: any) => void): void;
    destroy(sid: string, callback?: (err?: any) => void): void;
    /** Deletes every session of the user (Node's and Go's); resolves to the number deleted. */
    destroyUser(userId: string, callback: (err: any, count?: number) => void): void;
    destroyUser(userId: string): Promise<number>;
    /** Number of live sessions. */
    length(callback: (err: any, length?: number) => void): void;
    /** Live sessions as an array (ids are not stored, only their hashes). */
    all(callback: (err: any, sessions?: expressSession.SessionData[]) => void): void;
    /** Deletes every session in the table, Go's included. */
    clear(callback?: (err?: any) => void): void;
    /**
     * Changes the value under key atomically in the database (a
     * compare-and-swap, like Go's sessions.Update): fn gets the stored value
     * and returns the new one; it is called again if another request (Node
     * or Go) changed the value meanwhile, at most 10 times (then an error
     * with code 'ECONFLICT'). target is a sid or req.session (which then
     * holds the new value, is not written again by its save, and is saved
     * first if it was never stored). A session that is gone: code
     * 'ESESSIONNOTFOUND'. Resolves to the new value.
     */
    update<T = any>(target: string | expressSession.Session, key: string, fn: (old: T | undefined, present: boolean) => T | Promise<T>, callback: (err: any, value?: T) => void): void;
    update<T = any>(target: string | expressSession.Session, key: string, fn: (old: T | undefined, present: boolean) => T | Promise<T>): Promise<T>;
    /** Ends the pool when the store created it (conString / conObject). */
    close(): Promise<void>;
  }

  /** The error a save over maxDataBytes passes to its callback; nothing of that save is written. */
  class SizeError extends Error {
    readonly name: 'SizeError';
    readonly code: 'ESESSIONTOOLARGE';
    /** Bytes the stored session would take (jsonb text). */
    readonly size: number;
    /** The maxDataBytes in force. */
    readonly limit: number;
    constructor(size: number, limit: number);
  }

  interface SqlSessionStoreConstructor {
    new (options: Options): SqlSessionStore;
    /** The error a save over maxDataBytes passes to its callback (as connectSqlSession.SizeError). */
    readonly SizeError: typeof SizeError;
  }

  /** SHA-256 of the sid as UTF-8: the id_hash column. */
  function hashId(sid: string): Buffer;
  const DEFAULT_TTL_SECONDS: number;
  /** The default maxDataBytes: 1048576 (1 MiB). */
  const DEFAULT_MAX_DATA_BYTES: number;
  /**
   * Replaces, in the output of JSON.stringify, each \u0000 and unpaired
   * surrogate escape with U+FFFD: what set() stores.
   */
  function cleanJSON(json: string): string;
  /**
   * The client address recordDevice stores for a request: express's req.ip
   * when it is an IP address, else the peer's; without IPv6 zone, as Go's
   * netip prints it; "" when there is none.
   */
  function clientIP(req: { ip?: string; socket?: { remoteAddress?: string }; headers?: unknown }): string;
  /** The user agent recordDevice stores: valid UTF-8, at most 256 bytes, no NUL. */
  function cleanUserAgent(value: unknown): string;
}

/** Returns the Store class for the given express-session module. */
declare function connectSqlSession(session: typeof expressSession): connectSqlSession.SqlSessionStoreConstructor;

export = connectSqlSession;
