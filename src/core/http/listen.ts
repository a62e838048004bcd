import { AppError } from '../errors.js';
import type { HttpApp } from './server.js';

/**
 * Starts listening on `host:port` and answers the URL the API is reached at (the port the system
 * picked for 0); a taken port is HTTP_PORT_IN_USE, saying which variable to change.
 */
export async function listen(http: HttpApp, config: { host: string; port: number }): Promise<string> {
  try {
    await http.listen({ host: config.host, port: config.port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new AppError(
        'HTTP_PORT_IN_USE',
        `${config.host}:${config.port} is taken; set FACTEUR_PORT to a free port`,
        { cause: error },
      );
    }
    throw error;
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${port}`;
}
