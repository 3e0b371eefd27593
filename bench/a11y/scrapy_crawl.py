"""The original a11y task's crawl, for the bench: a Scrapy CrawlSpider with
the settings of pages-cf-build-tasks tasks/a11y/scraper/spider.py (same-site
rule on the target, Scrapy's ignored extensions plus xml and pdf, canonical
unique links, robots.txt obeyed, 16 requests per domain, asyncio reactor).

    python scrapy_crawl.py URL    prints `pages seconds`
"""
import logging
import sys
import time

from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import IGNORED_EXTENSIONS, LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

USER_AGENT = "cloudgovpagescrawler/1.0 (bench)"


class BenchSpider(CrawlSpider):
    name = "a11yspider"

    def __init__(self, target=None, found=None):
        super().__init__()
        self.start_urls = [target]
        self.rules = (
            Rule(
                LinkExtractor(
                    allow=target,
                    deny_extensions=[*IGNORED_EXTENSIONS, "xml", "pdf"],
                    canonicalize=True,
                    unique=True,
                ),
                callback="keep",
                follow=True,
            ),
        )
        self.found = found
        self._compile_rules()

    def keep(self, response):
        self.found.append(response.url)


def main():
    target = sys.argv[1]
    found = []
    process = CrawlerProcess(
        dict(
            BOT_NAME="cloudgovpagescrawler",
            USER_AGENT=USER_AGENT,
            ROBOTSTXT_OBEY=True,
            CONCURRENT_REQUESTS_PER_DOMAIN=16,
            REQUEST_FINGERPRINTER_IMPLEMENTATION="2.7",
            TWISTED_REACTOR="twisted.internet.asyncioreactor.AsyncioSelectorReactor",
            FEED_EXPORT_ENCODING="utf-8",
            LOG_LEVEL=logging.WARNING,
        )
    )
    started = time.monotonic()
    process.crawl(BenchSpider, target=target, found=found)
    process.start()
    print(f"{len(found)} {time.monotonic() - started:.3f}")


if __name__ == "__main__":
    main()
