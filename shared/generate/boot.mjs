// Worker-thread entry: registers the TypeScript loader, then imports the worker module named in
// workerData.entry (worker threads do not inherit the parent's module loaders).
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
