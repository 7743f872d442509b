import { join } from "node:path"
import { type Browser, chromium } from "playwright-core"

/** Where the browser tests leave their screenshots (git-ignored); the README's are copies of them. */
export const SCREENSHOTS = join(process.cwd(), ".artifacts")

/** Debian's Chromium (scripts/services.sh installs it), headless, kept off the network this machine cannot reach. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  })
