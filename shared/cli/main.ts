/**
 * The `bayesamp` command line. Commands are declared here, grouped by `// <command>` comments;
 * heavy modules load lazily inside each action.
 */
import cac from 'cac'
import colors from 'picocolors'

const cli = cac('bayesamp')

cli.help()
cli.version('0.1.0')

try {
  cli.parse(process.argv, { run: false })
  if (cli.matchedCommand === undefined && cli.args.length > 0) {
    console.error(colors.red(`unknown command '${cli.args[0]}'`))
    process.exit(1)
  }
  await cli.runMatchedCommand()
} catch (e) {
  console.error(colors.red(`error: ${e instanceof Error ? e.message : String(e)}`))
  process.exit(1)
}
