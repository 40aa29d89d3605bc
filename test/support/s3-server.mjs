// A loopback S3 server (s3rver) in its own process, for the tests: started by ./s3-server.ts as
// `node --openssl-legacy-provider s3-server.mjs <directory> <bucket>...`. It listens on 127.0.0.1
// at a free port (or at the port in S3_SERVER_PORT, to restart on the same endpoint), prints one
// JSON line `{"port": n}` when ready, and exits on SIGTERM or when its stdin closes.
import S3rver from 's3rver'

const [directory, ...buckets] = process.argv.slice(2)
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3_SERVER_PORT ?? 0),
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
})
const address = await server.run()
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`)

const stop = () => {
  server.httpServer?.closeAllConnections?.()
  server.close().finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
