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
    /** Logs errors of idle clients of a pool the store created; default console.error. */
    errorLog?: (...args: unknown[]) => void;
  }

  interface SqlSessionStore extends expressSession.Store {
    get(sid: string, callback: (err: any, session?: expressSession.SessionData | null) => void): void;
    get(sid: string): Promise<expressSession.SessionData | null>;
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

  interface SqlSessionStoreConstructor {
    new (options: Options): SqlSessionStore;
  }

  /** SHA-256 of the sid as UTF-8: the id_hash column. */
  function hashId(sid: string): Buffer;
  const DEFAULT_TTL_SECONDS: number;
}

/** Returns the Store class for the given express-session module. */
declare function connectSqlSession(session: typeof expressSession): connectSqlSession.SqlSessionStoreConstructor;

export = connectSqlSession;
