// The Redis connection of the queue commands: a redis:// (or rediss://) URL
// to the options BullMQ hands ioredis, with reconnection every 0.2 s to 2 s
// for as long as the server is away (a restarted Redis is picked up again).
import { expectedType } from '../errors';

export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
}

export function redisConnection(url: string): RedisConnection {
  if (typeof url !== 'string' || url === '') throw expectedType('a redis://HOST:PORT URL', 'redis', url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw expectedType('a redis://HOST:PORT URL', 'redis', url);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw expectedType('a redis:// or rediss:// URL', 'redis', url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !(Number.isInteger(db) && db >= 0)) throw expectedType('a database number after the port (redis://HOST:PORT/DB)', 'redis', url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
}

/** A queue name BullMQ accepts (no ':', which separates its keys). */
export function checkQueueName(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw expectedType('a queue name of letters, digits, _ . - (at most 100)', 'queue', name);
  return name;
}
