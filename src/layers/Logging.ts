import { Effect, Layer, Logger } from "effect"
import { AppConfig } from "./AppConfig.js"

/** JSON lines for log shippers by default, human-readable in a terminal; LOG_LEVEL sets the threshold. */
export const LoggingLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, process.stdout.isTTY ? Logger.prettyLoggerDefault : Logger.jsonLogger),
      Logger.minimumLogLevel(config.logLevel),
    ),
  ),
)
