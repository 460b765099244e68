"""Turn rankings and pairwise outcomes into one order: win rates and PageRank.

Used by JointRank (block rankings → implied pairwise wins) and by PRP all-pairs.
Pure functions over a win matrix `wins[i][j]` = how often i beat j.
"""

from __future__ import annotations

from collections.abc import Sequence

Matrix = list[list[float]]


def empty(n: int) -> Matrix:
    return [[0.0] * n for _ in range(n)]


def add_ranking(wins: Matrix, ranking: Sequence[int]) -> None:
    """Every item earlier in `ranking` beats every later one (global indices)."""
    for a, winner in enumerate(ranking):
        for loser in ranking[a + 1 :]:
            wins[winner][loser] += 1.0


def win_rate(wins: Matrix) -> list[float]:
    """Share of an item's comparisons it won; 0.5 for an item never compared.

    >>> w = empty(3); add_ranking(w, [2, 0, 1]); win_rate(w)
    [0.5, 0.0, 1.0]
    """
    n = len(wins)
    out = []
    for i in range(n):
        won = sum(wins[i])
        played = won + sum(wins[j][i] for j in range(n))
        out.append(won / played if played else 0.5)
    return out


def pagerank(wins: Matrix, damping: float = 0.85, iterations: int = 200) -> list[float]:
    """PageRank-style stationary score of a random walk over the games.

    A walker at item i picks one of i's games at random and moves to its
    winner (staying when i won), with a (1 − damping) chance to jump anywhere
    (the random-walker ranking of Callaghan et al., PageRank over the win
    graph with self-loops). Unlike a plain win rate it rewards beating strong
    items; unlike PageRank without self-loops an unbeaten item keeps its mass
    instead of spreading it uniformly.

    >>> w = empty(3); add_ranking(w, [2, 0, 1]); r = pagerank(w); r.index(max(r))
    2
    """
    n = len(wins)
    if n == 0:
        return []
    games = [sum(wins[i][j] + wins[j][i] for j in range(n)) for i in range(n)]
    rank = [1.0 / n] * n
    for _ in range(iterations):
        idle = sum(rank[i] for i in range(n) if games[i] == 0)
        new = [(1 - damping) / n + damping * idle / n] * n
        for i in range(n):
            if games[i] == 0:
                continue
            share = damping * rank[i] / games[i]
            new[i] += share * sum(wins[i])
            for j in range(n):
                if wins[j][i]:
                    new[j] += share * wins[j][i]
        if max(abs(a - b) for a, b in zip(new, rank, strict=True)) < 1e-12:
            return new
        rank = new
    return rank
