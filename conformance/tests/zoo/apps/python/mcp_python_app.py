"""The official MCP Python SDK (`mcp` 2.x) over Streamable HTTP, written the way its README does it.

`MCPServer` (FastMCP until mcp 2, renamed) with one tool that reports progress a few times
(`ctx.report_progress`) and then returns, served by `run_streamable_http_async` on uvicorn at
/mcp with sessions on (`stateless_http=False`, the SDK's default). A `tools/call` that carries
`params._meta.progressToken` is answered as an SSE stream: the `notifications/progress`
messages, then the JSON-RPC response, then the end. With --json-response the SDK's JSON mode
answers every request with one `application/json` body instead (progress is then dropped).

Usage: python mcp_python_app.py PORT [--json-response] [--steps N] [--step-ms MS]
"""

import argparse
import asyncio

from mcp.server.mcpserver import Context, MCPServer

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--json-response", action="store_true")
parser.add_argument("--steps", type=int, default=5)
parser.add_argument("--step-ms", type=int, default=50)
args = parser.parse_args()

mcp = MCPServer("ssekit-zoo-progress", log_level="WARNING")


@mcp.tool()
async def count(n: int = args.steps, ctx: Context = None) -> str:
    """Counts to n, reporting progress after each step."""
    for i in range(1, n + 1):
        await asyncio.sleep(args.step_ms / 1000)
        await ctx.report_progress(i, n, f"step {i} of {n}")
    return f"counted to {n}"


if __name__ == "__main__":
    asyncio.run(
        mcp.run_streamable_http_async(
            host="127.0.0.1",
            port=args.port,
            streamable_http_path="/mcp",
            json_response=args.json_response,
            stateless_http=False,
        )
    )
