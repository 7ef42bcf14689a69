// The key worker thread's entry file: KeyPool starts it (keyWorkerEntry); nothing imports it, since loading it serves
// key requests on the loading thread's port.
import { parentPort } from 'node:worker_threads';
import { serveKeyRequests } from './key-worker.js';

if (!parentPort) throw new Error('key-worker-main runs only as a worker thread');
serveKeyRequests(parentPort);
