// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) over Streamable HTTP, written the
// way its stateful example (examples/server/simpleStreamableHttp) does it: createMcpExpressApp,
// one StreamableHTTPServerTransport per session with a randomUUID session id generator, kept in
// a map by onsessioninitialized; POST, GET and DELETE /mcp; 404 for an unknown session. The
// tool `count` sends notifications/progress (as examples/server/progressExample does) when the
// call carries params._meta.progressToken, 50 ms apart, then returns, so a tools/call is
// answered as an SSE stream: the progress, then the JSON-RPC response, then the end.
//
// Usage: node mcp-typescript.mjs PORT [--json-response]
import { randomUUID } from 'node:crypto';
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const port = Number(process.argv[2]);
const jsonResponse = process.argv.includes('--json-response');

function getServer() {
    const server = new McpServer({ name: 'ssekit-zoo-progress', version: '1.0.0' });
    server.registerTool(
        'count',
        {
            description: 'Count to N with progress updates',
            inputSchema: { n: z.number().int().min(1).max(100) }
        },
        async ({ n }, extra) => {
            for (let i = 1; i <= n; i++) {
                await new Promise(resolve => setTimeout(resolve, 50));
                if (extra._meta?.progressToken !== undefined) {
                    await extra.sendNotification({
                        method: 'notifications/progress',
                        params: { progressToken: extra._meta.progressToken, progress: i, total: n, message: `Counting: ${i}/${n}` }
                    });
                }
            }
            return { content: [{ type: 'text', text: `Counted to ${n}` }] };
        }
    );
    return server;
}

const app = createMcpExpressApp();
const transports = new Map();

app.post('/mcp', async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    try {
        let transport = sessionId ? transports.get(sessionId) : undefined;
        if (!transport && !sessionId && isInitializeRequest(req.body)) {
            transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                enableJsonResponse: jsonResponse,
                onsessioninitialized: id => {
                    transports.set(id, transport);
                }
            });
            transport.onclose = () => {
                if (transport.sessionId) transports.delete(transport.sessionId);
            };
            await getServer().connect(transport);
        } else if (!transport && sessionId) {
            res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
            return;
        } else if (!transport) {
            res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
            return;
        }
        await transport.handleRequest(req, res, req.body);
    } catch (error) {
        console.error('Error handling MCP request:', error);
        if (!res.headersSent) {
            res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
        }
    }
});

// GET (the server-to-client stream) and DELETE (end the session) go to the session's transport.
const sessionRequest = async (req, res) => {
    const sessionId = req.headers['mcp-session-id'];
    if (!sessionId) {
        res.status(400).send('Missing session ID');
        return;
    }
    const transport = transports.get(sessionId);
    if (!transport) {
        res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        return;
    }
    await transport.handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

app.listen(port, '127.0.0.1', error => {
    if (error) {
        console.error('Failed to start server:', error);
        process.exit(1);
    }
    console.log(`MCP Streamable HTTP server on 127.0.0.1:${port}`);
});
